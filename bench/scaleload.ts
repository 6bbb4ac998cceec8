/**
 * The scenarios of `npm run bench -- --pg` (bench/scaleout.ts): closed-loop REST sends and a paced
 * WebSocket fan-out against a deployment of one or more instances, with the CPU of every instance.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import { type BenchServer, benchTenant, checkSeqs, cpuMs, loadMeter, request, round, summary } from "./lib.js"
import { type Client, closeAll, connect, connectAll, delivered, expectSeq, range, sendPaced, type Summary, verify, verifySends } from "./wsclient.js"

const SENDERS = 32
/** Rooms of 2 in the many-rooms send: enough that 32 senders rarely share one. */
export const MANY_ROOMS = 64
export const FANOUT_ROOMS = 3
export const FANOUT_MEMBERS = 100
/** Messages per second into all fan-out rooms together: 40 × 100 members = 4,000 deliveries/s offered. */
const FANOUT_RATE = 40

/** What every scenario reports, and the table shows. */
export interface Figures {
  readonly throughput: number
  readonly unit: "msg/s" | "deliveries/s"
  readonly send_latency_ms: Summary
  readonly receipt_latency_ms?: Summary
  readonly server_cpu_cores: number
  readonly machine_busy_cores: number
  readonly check: { readonly ok: boolean; readonly problems: ReadonlyArray<string> }
  readonly [more: string]: unknown
}

/** One or more instances on one store. */
export interface Deployment {
  readonly name: string
  readonly servers: ReadonlyArray<BenchServer>
  stop(): Promise<void>
}

/** `f` over `items`, 16 at a time, results in order. */
const inParallel = async <T, R>(items: ReadonlyArray<T>, f: (item: T) => Promise<R>) => {
  const out: Array<R> = []
  let next = 0
  await Promise.all(range(16).map(async () => {
    while (next < items.length) {
      const i = next++
      out[i] = await f(items[i]!)
    }
  }))
  return out
}

/** Busy cores of the whole machine (every process, PostgreSQL and Redis included) from /proc/stat. */
const machineMeter = () => {
  const read = () => {
    const [, ...fields] = fs.readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/)
    const n = fields.map(Number)
    return { total: n.reduce((a, b) => a + b, 0), idle: n[3]! + n[4]! }
  }
  const before = read()
  return () => {
    const after = read()
    const total = after.total - before.total
    return round((1 - (after.idle - before.idle) / Math.max(1, total)) * os.cpus().length)
  }
}

/** Server CPU of every instance together, the load generator and the machine, from now until the returned function is called. */
const measure = (d: Deployment) => {
  const before = d.servers.map((s) => cpuMs(s.pid))
  const loadgen = loadMeter(d.servers[0]!.pid)
  const machine = machineMeter()
  return () => {
    const { wallMs, loadgen_cpu_cores, loadgen_event_loop_delay_ms } = loadgen()
    const serverCpuMs = d.servers.reduce((sum, s, i) => sum + cpuMs(s.pid) - before[i]!, 0)
    return { wallMs, serverCpuMs, server_cpu_cores: round(serverCpuMs / wallMs), machine_busy_cores: machine(), loadgen_cpu_cores, loadgen_event_loop_delay_ms }
  }
}

/** 32 closed-loop REST senders, sender k through instance k mod n, into one room of 32 or over MANY_ROOMS rooms of 2. */
export const send = (rooms: number) => async (d: Deployment, durationS: number, warmupS: number): Promise<Figures> => {
  const { headers, api } = await benchTenant(d.servers[0]!, `bench-send-${rooms}`)
  const targets: Array<{ roomId: string; users: ReadonlyArray<string> }> = []
  if (rooms === 1) {
    const users = range(SENDERS).map((i) => `sender${i}`)
    targets.push({ roomId: (await api("POST", "/rooms", users[0]!, { type: "group", members: users.slice(1) })).room_id, users })
  } else {
    targets.push(...await inParallel(range(rooms), async (i) =>
      ({ roomId: (await api("POST", "/rooms", `a${i}`, { type: "group", members: [`b${i}`] })).room_id as string, users: [`a${i}`, `b${i}`] })))
  }
  const stored = new Map<string, number>()
  const latencies: Array<number> = []
  const statuses: Record<string, number> = {}
  const drive = (end: number, record: boolean) =>
    Promise.all(range(SENDERS).map(async (s) => {
      const url = d.servers[s % d.servers.length]!.url
      for (let n = 0; performance.now() < end; n++) {
        const target = rooms === 1 ? targets[0]! : targets[(s + SENDERS * n) % targets.length]!
        const user = rooms === 1 ? target.users[s]! : target.users[n % 2]!
        const t0 = performance.now()
        const res = await request(url, "POST", `/rooms/${target.roomId}/messages`, headers(user), { content: `${t0} ${n}` })
        if (record) {
          latencies.push(performance.now() - t0)
          statuses[res.status] = (statuses[res.status] ?? 0) + 1
        }
        if (res.status === 201) stored.set(target.roomId, (stored.get(target.roomId) ?? 0) + 1)
      }
    }))
  await drive(performance.now() + warmupS * 1000, false)
  const stop = measure(d)
  await drive(performance.now() + durationS * 1000, true)
  const { wallMs, serverCpuMs, ...load } = stop()
  const problems = Object.keys(statuses).some((s) => s !== "201") ? [`statuses ${JSON.stringify(statuses)}`] : []
  const checked = await inParallel(targets, (t) => checkSeqs(d.servers[d.servers.length - 1]!.url, headers(t.users[0]!), t.roomId, stored.get(t.roomId) ?? 0))
  problems.push(...checked.flatMap((c) => c.problems))
  const ok = statuses["201"] ?? 0
  return {
    throughput: round(ok / (wallMs / 1000), 1),
    unit: "msg/s",
    messages: ok,
    send_latency_ms: summary(latencies),
    server_cpu_ms_per_msg: round(serverCpuMs / Math.max(1, ok), 3),
    ...load,
    check: { ok: problems.length === 0, problems: problems.slice(0, 10) }
  }
}

/** Three rooms of 100 members, every member on WS; room r sends through instance r mod n, its members are elsewhere. */
export const fanout = async (d: Deployment, durationS: number): Promise<Figures> => {
  const { apiKey, headers, api } = await benchTenant(d.servers[0]!, "bench-fanout")
  const n = d.servers.length
  const receipts: Array<number> = []
  let lastAt = 0
  const rooms = await Promise.all(range(FANOUT_ROOMS).map(async (r) => {
    const users = range(FANOUT_MEMBERS).map((i) => `r${r}m${i}`)
    const roomId = (await api("POST", "/rooms", users[0]!, { type: "group", members: users.slice(1) })).room_id as string
    const home = (i: number) => (n === 1 ? 0 : (r + 1 + (i % (n - 1))) % n)
    const clients = await connectAll(range(FANOUT_MEMBERS), (i) =>
      connect(d.servers[home(i)]!, apiKey, users[i]!, (c, f) => {
        if (f.type !== "message" || f.room_id !== roomId) return
        expectSeq(c, f.seq)
        lastAt = performance.now()
        receipts.push(lastAt - parseFloat(f.content ?? ""))
      }))
    return { roomId, users, clients, via: d.servers[r % n]! }
  }))
  await new Promise((resolve) => setTimeout(resolve, 1000))
  const stop = measure(d)
  const started = performance.now()
  const sent = await Promise.all(rooms.map((room) =>
    sendPaced(room.via, headers, room.roomId, room.users.slice(0, 2), { senders: 2, rate: FANOUT_RATE / FANOUT_ROOMS, durationS })
  ))
  await Promise.all(rooms.map((room, r) => delivered(room.clients, sent[r]!.seqs.length)))
  const { wallMs: _, serverCpuMs, ...load } = stop()
  const problems = rooms.flatMap((room, r) => [...verifySends(sent[r]!.statuses, sent[r]!.seqs), ...verify(room.clients, 1, sent[r]!.seqs.length)])
  const clients: Array<Client> = rooms.flatMap((room) => room.clients)
  await closeAll(clients)
  const deliveries = clients.reduce((sum, c) => sum + c.received, 0)
  return {
    throughput: round(deliveries / ((lastAt - started) / 1000), 0),
    unit: "deliveries/s",
    messages: sent.reduce((sum, s) => sum + s.seqs.length, 0),
    deliveries,
    send_latency_ms: summary(sent.flatMap((s) => s.latencies)),
    receipt_latency_ms: summary(receipts),
    server_cpu_us_per_delivery: round((serverCpuMs * 1000) / Math.max(1, deliveries), 1),
    ...load,
    check: { ok: problems.length === 0, problems: problems.slice(0, 10) }
  }
}
