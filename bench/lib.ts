import { type ChildProcess, execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import { monitorEventLoopDelay } from "node:perf_hooks"
import WebSocket from "ws"
import { createTenant, freePort, MASTER_KEY, startServer } from "../test/support/server.js"

export interface BenchServer {
  readonly url: string
  readonly port: number
  readonly pid: number
  readonly dataDir: string
  readonly process: ChildProcess
  stop(): Promise<void>
}

/**
 * The built server on 127.0.0.1 with a temporary database and LOG_LEVEL=warn.
 * `BENCH_SERVER_NODE_ARGS` (e.g. `--cpu-prof --cpu-prof-dir=prof`) go to the server's node only, for profiles.
 */
export const startQuietServer = async (env: Record<string, string> = {}): Promise<BenchServer> => {
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? "").split(" ").filter((arg) => arg !== "")
  const server = await startServer({ env: { LOG_LEVEL: "warn", ...env }, nodeArgs })
  return { ...server, pid: server.process.pid!, stop: async () => void (await server.stop()) }
}

/**
 * A server of its own with the inspector on 127.0.0.1, used only to force full garbage collections
 * before memory samples and to read the JS heap in use.
 */
export const startInspectedServer = async (env: Record<string, string> = {}) => {
  const port = await freePort()
  const server = await startQuietServer({ ...env, NODE_OPTIONS: `--inspect=127.0.0.1:${port}` })
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Array<{ webSocketDebuggerUrl: string }>
  const socket = new WebSocket(targets[0]!.webSocketDebuggerUrl)
  await new Promise((resolve, reject) => (socket.once("open", resolve), socket.once("error", reject)))
  let id = 0
  const pending = new Map<number, (result: any) => void>()
  socket.on("message", (data) => {
    const reply = JSON.parse(String(data))
    pending.get(reply.id)?.(reply.result)
    pending.delete(reply.id)
  })
  const call = (method: string) => new Promise<any>((resolve) => (pending.set(++id, resolve), socket.send(JSON.stringify({ id, method }))))
  return {
    server,
    /** Two full collections, then VmRSS and the JS heap in use, in KB. */
    collect: async () => {
      await call("HeapProfiler.collectGarbage")
      await call("HeapProfiler.collectGarbage")
      const heap = await call("Runtime.getHeapUsage")
      return { rss_kb: rssKb(server.pid), heap_kb: Math.round(heap.usedSize / 1024) }
    },
    stop: async () => {
      socket.close()
      await server.stop()
    }
  }
}

const clockTicks = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100

/** CPU time (user + system) a process has used so far, in ms, from /proc/PID/stat. */
export const cpuMs = (pid: number) => {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
  // Fields after the ")" closing the command name: state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return ((Number(fields[11]) + Number(fields[12])) / clockTicks) * 1000
}

/** Resident set size of a process in KB, from /proc/PID/status (VmRSS). */
export const rssKb = (pid: number) => {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))
  if (!match) throw new Error(`no VmRSS for ${pid}`)
  return Number(match[1])
}

/** Event-loop delay sampling interval; the histogram records whole intervals, so this is subtracted. */
export const ELD_RESOLUTION_MS = 5

/**
 * Starts measuring the server's CPU and this process's (the load generator's) CPU and event-loop
 * delay; the returned function stops and reports.
 */
export const loadMeter = (serverPid: number) => {
  const loop = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS })
  const serverBefore = cpuMs(serverPid)
  const ownBefore = process.cpuUsage()
  const started = performance.now()
  loop.enable()
  return () => {
    loop.disable()
    const wallMs = performance.now() - started
    const serverCpu = cpuMs(serverPid) - serverBefore
    const own = process.cpuUsage(ownBefore)
    const delay = (ns: number) => round(Math.max(0, ns / 1e6 - ELD_RESOLUTION_MS))
    return {
      wallMs,
      serverCpuMs: serverCpu,
      server_cpu_cores: round(serverCpu / wallMs),
      loadgen_cpu_cores: round((own.user + own.system) / 1000 / wallMs),
      loadgen_event_loop_resolution_ms: ELD_RESOLUTION_MS,
      loadgen_event_loop_delay_ms: { p50: delay(loop.percentile(50)), p99: delay(loop.percentile(99)), max: delay(loop.max) }
    }
  }
}

/** The server's garbage collections so far by kind (minor, major, incremental, weakcb), from its `/metrics`. */
export const serverGc = async (url: string) => {
  const res = await fetch(`${url}/metrics`, { headers: { "x-master-key": MASTER_KEY } })
  if (!res.ok) throw new Error(`GET /metrics: ${res.status}`)
  const text = await res.text()
  const kinds: Record<string, { count: number; ms: number }> = {}
  for (const [, field, kind, value] of text.matchAll(/^chatapi_nodejs_gc_duration_seconds_(sum|count)\{kind="(\w+)"\} (\S+)$/gm)) {
    const k = (kinds[kind!] ??= { count: 0, ms: 0 })
    if (field === "sum") k.ms = Number(value) * 1000
    else k.count = Number(value)
  }
  return kinds
}

/** Collections between two `serverGc` readings: per kind how many and their mean pause, and their share of the wall time. */
export const gcBetween = (before: Awaited<ReturnType<typeof serverGc>>, after: Awaited<ReturnType<typeof serverGc>>, wallMs: number) => {
  let totalMs = 0
  const kinds: Record<string, { count: number; mean_ms: number }> = {}
  for (const [kind, { count, ms }] of Object.entries(after)) {
    const n = count - (before[kind]?.count ?? 0)
    const spent = ms - (before[kind]?.ms ?? 0)
    if (n === 0) continue
    totalMs += spent
    kinds[kind] = { count: n, mean_ms: round(spent / n) }
  }
  return { ...kinds, share_of_wall: round(totalMs / wallMs, 3) }
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 })

export interface Reply {
  readonly status: number
  readonly body: string
}

/** A JSON request over the keep-alive agent; network errors come back as status 0. */
export const request = (base: string, method: string, route: string, headers: Record<string, string>, body?: unknown) =>
  new Promise<Reply>((resolve) => {
    const payload = body === undefined ? undefined : JSON.stringify(body)
    const req = http.request(`${base}${route}`, {
      method,
      agent,
      headers: {
        ...headers,
        ...(payload === undefined ? {} : { "content-type": "application/json", "content-length": String(Buffer.byteLength(payload)) })
      }
    }, (res) => {
      const chunks: Array<Buffer> = []
      res.on("data", (c: Buffer) => chunks.push(c))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }))
      res.on("error", (e) => resolve({ status: 0, body: String(e) }))
    })
    req.on("error", (e) => resolve({ status: 0, body: String(e) }))
    req.end(payload)
  })

export const closeAgent = () => agent.destroy()

/** The q-quantile of an ascending array (nearest rank). */
export const quantile = (sorted: Float64Array | Array<number>, q: number) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!

export const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits

/** p50, p99, max and mean of latency samples in ms. */
export const summary = (samples: ArrayLike<number>) => {
  const sorted = Float64Array.from(samples).sort()
  let sum = 0
  for (const x of sorted) sum += x
  return {
    p50: round(quantile(sorted, 0.5)),
    p99: round(quantile(sorted, 0.99)),
    max: round(sorted[sorted.length - 1] ?? NaN),
    mean: round(sum / Math.max(1, sorted.length))
  }
}

export type Api = (method: string, route: string, user: string, body?: unknown) => Promise<any>

/** A new tenant without a practical rate limit, and a JSON client for it that throws on a non-2xx reply. */
export const benchTenant = async (server: BenchServer, name: string) => {
  const { apiKey } = await createTenant(server.url, name, { rate_limit_per_sec: 1_000_000, burst: 10_000_000 })
  const headers = (user: string) => ({ "x-api-key": apiKey, "x-user-id": user })
  const api: Api = async (method, route, user, body) => {
    const res = await request(server.url, method, route, headers(user), body)
    if (res.status >= 300) throw new Error(`${method} ${route}: ${res.status} ${res.body}`)
    return JSON.parse(res.body)
  }
  return { apiKey, headers, api }
}

/** Checks one room's history is exactly seq 1..expected, by paging with after_seq. */
export const checkSeqs = async (base: string, headers: Record<string, string>, roomId: string, expected: number) => {
  const problems: Array<string> = []
  const ids = new Set<string>()
  let next = 1
  let after = 0
  for (;;) {
    const res = await request(base, "GET", `/rooms/${roomId}/messages?after_seq=${after}&limit=100`, headers)
    if (res.status !== 200) {
      problems.push(`history ${res.status}: ${res.body.slice(0, 200)}`)
      break
    }
    const page = JSON.parse(res.body) as { messages: Array<{ seq: number; message_id: string }>; has_more: boolean }
    for (const m of page.messages) {
      if (m.seq !== next) problems.push(`room ${roomId}: expected seq ${next}, found ${m.seq}`)
      if (ids.has(m.message_id)) problems.push(`room ${roomId}: duplicate message_id ${m.message_id}`)
      ids.add(m.message_id)
      next = m.seq + 1
      after = m.seq
    }
    if (!page.has_more || page.messages.length === 0) break
  }
  if (next - 1 !== expected) problems.push(`room ${roomId}: history ends at seq ${next - 1}, ${expected} sends succeeded`)
  return { count: ids.size, problems }
}
