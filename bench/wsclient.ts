/** WebSocket clients and paced REST senders for bench/ws.ts; each client checks the per-room seq order it sees. */
import WebSocket from "ws"
import { type BenchServer, request, type summary } from "./lib.js"

const CONNECT_CONCURRENCY = 50

export interface Frame {
  readonly type: string
  readonly room_id?: string
  readonly seq?: number
  readonly content?: string
}

/** One socket; `next` is the seq it expects next from the room under test. */
export interface Client {
  readonly user: string
  readonly socket: WebSocket
  next: number
  received: number
  readonly problems: Array<string>
  /** Set when the socket closed, whoever closed it. */
  closed: string | undefined
}

export type Summary = ReturnType<typeof summary>

/** A WS scenario's result: one JSON line, and a table row from the common fields it has. */
export interface WsResult {
  readonly scenario: string
  readonly description: string
  readonly messages?: number
  readonly deliveries?: number
  readonly deliveries_per_s?: number
  readonly send_latency_ms?: Summary
  readonly receipt_latency_ms?: Summary
  readonly server_cpu_cores?: number
  readonly loadgen_cpu_cores?: number
  readonly loadgen_event_loop_delay_ms?: { readonly p99: number }
  /** The scenario's key figure, for the table. */
  readonly headline: string
  readonly check: { readonly ok: boolean; readonly problems: ReadonlyArray<string> }
  readonly [more: string]: unknown
}

export interface WsScenario {
  readonly description: string
  /** Seconds the scenario may take in all, for the watchdog. */
  budgetS(durationS: number): number
  run(server: BenchServer, name: string, durationS: number): Promise<WsResult>
}

export const count = (counts: Record<string, number>, key: string) => void (counts[key] = (counts[key] ?? 0) + 1)
export const range = (n: number) => Array.from({ length: n }, (_, i) => i)
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
export const progress = (line: string) => process.stderr.write(`${line}\n`)

/** Opens `/ws` as `user` (API key and user in headers); every frame goes to `onFrame`, parsed. */
export const connect = (server: BenchServer, apiKey: string, user: string, onFrame: (c: Client, f: Frame) => void, next = 1) =>
  new Promise<Client>((resolve, reject) => {
    const socket = new WebSocket(`ws://127.0.0.1:${server.port}/ws`, {
      headers: { "x-api-key": apiKey, "x-user-id": user },
      perMessageDeflate: false
    })
    const client: Client = { user, socket, next, received: 0, problems: [], closed: undefined }
    let open = false
    socket.on("message", (data) => onFrame(client, JSON.parse(String(data))))
    socket.on("close", (code, reason) => {
      client.closed = `${code} ${String(reason)}`
      if (!open) reject(new Error(`${user}: closed before open (${client.closed})`))
    })
    socket.on("error", (e) => (open ? client.problems.push(`${user}: ${e.message}`) : reject(e)))
    socket.once("open", () => {
      open = true
      resolve(client)
    })
  })

/** Opens one socket per user, a bounded number at a time. */
export const connectAll = async <U, C extends Client>(users: ReadonlyArray<U>, open: (user: U) => Promise<C>) => {
  const clients: Array<C> = []
  let i = 0
  await Promise.all(range(CONNECT_CONCURRENCY).map(async () => {
    while (i < users.length) {
      const k = i++
      clients[k] = await open(users[k]!)
    }
  }))
  return clients
}

export const closeAll = (clients: ReadonlyArray<Client>) =>
  Promise.all(clients.map((c) =>
    new Promise<void>((resolve) => {
      if (c.socket.readyState === WebSocket.CLOSED) return resolve()
      const timer = setTimeout(() => c.socket.terminate(), 5000)
      c.socket.once("close", () => (clearTimeout(timer), resolve()))
      c.socket.close()
    })
  ))

/** Counts a room message: anything but the next seq is a gap, a duplicate or a reordering. */
export const expectSeq = (c: Client, seq: number | undefined) => {
  c.received++
  if (seq !== c.next && c.problems.length < 3) c.problems.push(`${c.user}: expected seq ${c.next}, got ${seq}`)
  c.next = Math.max(c.next, (seq ?? 0) + 1)
}

/** Waits until every client has `count` room messages (or is closed), up to a limit; then a moment for extras. */
export const delivered = async (clients: ReadonlyArray<Client>, count: number, timeoutMs = 15_000) => {
  const deadline = performance.now() + timeoutMs
  while (clients.some((c) => c.received < count && c.closed === undefined) && performance.now() < deadline) await sleep(10)
  await sleep(200)
}

/** Each client got exactly seqs first..last, once each and in order, and is still open. */
export const verify = (clients: ReadonlyArray<Client>, first: number, last: number) =>
  clients.flatMap((c) => [
    ...c.problems,
    ...(c.received === last - first + 1 && c.next === last + 1 ? [] : [`${c.user}: ${c.received} messages up to seq ${c.next - 1}, expected ${first}..${last}`]),
    ...(c.closed === undefined ? [] : [`${c.user}: closed by the server: ${c.closed}`])
  ])

/** Every send got a 201, and the replies carried seqs first..first+n-1. */
export const verifySends = (statuses: Record<string, number>, seqs: ReadonlyArray<number>, first = 1) => {
  const sorted = [...seqs].sort((a, b) => a - b)
  return [
    ...(Object.keys(statuses).some((s) => s !== "201") ? [`send statuses ${JSON.stringify(statuses)}`] : []),
    ...(sorted.every((s, i) => s === first + i) ? [] : [`the 201 replies' seqs are not ${first}..${first + seqs.length - 1}`])
  ]
}

/**
 * `senders` loops send `rate` messages/s in all into one room, evenly spaced, for `durationS`; a loop
 * that falls behind sends at once, and none starts a send after `durationS` (the rate reached is what
 * the server kept up with). Each content starts with its send time (performance.now()).
 */
export const sendPaced = async (
  server: BenchServer,
  headers: (user: string) => Record<string, string>,
  roomId: string,
  users: ReadonlyArray<string>,
  options: { senders: number; rate: number; durationS: number }
) => {
  const { senders, rate, durationS } = options
  const latencies: Array<number> = []
  const statuses: Record<string, number> = {}
  const seqs: Array<number> = []
  const start = performance.now()
  const interval = (senders * 1000) / rate
  await Promise.all(range(senders).map(async (s) => {
    const user = users[s % users.length]!
    for (let n = 0; n < Math.round((rate * durationS) / senders); n++) {
      if (performance.now() - start >= durationS * 1000) break
      const wait = start + (n + s / senders) * interval - performance.now()
      if (wait > 0) await sleep(wait)
      const t0 = performance.now()
      const res = await request(server.url, "POST", `/rooms/${roomId}/messages`, headers(user), { content: `${t0} from ${user} #${n}` })
      latencies.push(performance.now() - t0)
      statuses[res.status] = (statuses[res.status] ?? 0) + 1
      if (res.status === 201) seqs.push(JSON.parse(res.body).seq)
    }
  }))
  return { latencies, statuses, seqs, wallMs: performance.now() - start }
}
