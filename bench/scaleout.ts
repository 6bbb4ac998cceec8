/**
 * `npm run bench -- --pg`: the send and fan-out scenarios on one SQLite node, then on PostgreSQL +
 * Redis with one instance and with three, side by side. It creates a PostgreSQL database and a Redis
 * key prefix of its own for each deployment and drops them afterwards; everything is on 127.0.0.1.
 * With three instances, REST senders go round-robin over the instances and, in the fan-out, each
 * room's members sit on the instances its senders do not use, so every delivery crosses Redis.
 */
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import { createDatabase, dropDatabase, dsnOf, preparePostgres } from "../test/support/postgres.js"
import { deleteKeys, probeRedis, REDIS_URL } from "../test/support/redis.js"
import { type BenchServer, benchTenant, checkSeqs, closeAgent, cpuMs, loadMeter, request, round, startQuietServer, summary } from "./lib.js"
import { type Client, closeAll, connect, connectAll, delivered, expectSeq, progress, range, sendPaced, type Summary, verify, verifySends } from "./wsclient.js"

const SENDERS = 32
/** Rooms of 2 in the many-rooms send: enough that 32 senders rarely share one. */
const MANY_ROOMS = 64
const FANOUT_ROOMS = 3
const FANOUT_MEMBERS = 100
/** Messages per second into all fan-out rooms together: 40 × 100 members = 4,000 deliveries/s offered. */
const FANOUT_RATE = 40

/** What every scenario reports, and the table shows. */
interface Figures {
  readonly throughput: number
  readonly unit: "msg/s" | "deliveries/s"
  readonly send_latency_ms: Summary
  readonly receipt_latency_ms?: Summary
  readonly server_cpu_cores: number
  readonly machine_busy_cores: number
  readonly check: { readonly ok: boolean; readonly problems: ReadonlyArray<string> }
  readonly [more: string]: unknown
}

type Result = Figures & { readonly scenario: string; readonly deployment: string }

interface Deployment {
  readonly name: string
  readonly servers: ReadonlyArray<BenchServer>
  stop(): Promise<void>
}

const sqliteNode = async (): Promise<Deployment> => {
  const server = await startQuietServer()
  return { name: "sqlite x1", servers: [server], stop: () => server.stop() }
}

/** `n` instances on a new PostgreSQL database and a new Redis prefix, both removed by `stop`. */
const pgRedis = async (n: number): Promise<Deployment> => {
  const database = await createDatabase()
  const prefix = `chatapi-bench-${crypto.randomBytes(6).toString("hex")}:`
  const servers: Array<BenchServer> = []
  const stop = async () => {
    await Promise.all(servers.map((s) => s.stop()))
    await dropDatabase(database)
    await deleteKeys(prefix)
  }
  try {
    const env = { DATABASE_DSN: dsnOf(database), REDIS_URL, REDIS_PREFIX: prefix }
    // The first one migrates; the others start together after it.
    servers.push(await startQuietServer(env))
    const rest = await Promise.allSettled(range(n - 1).map(() => startQuietServer(env)))
    for (const r of rest) if (r.status === "fulfilled") servers.push(r.value)
    const failed = rest.find((r) => r.status === "rejected")
    if (failed !== undefined) throw failed.reason
  } catch (e) {
    await stop()
    throw e
  }
  return { name: `pg+redis x${n}`, servers, stop }
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
const send = (rooms: number) => async (d: Deployment, durationS: number, warmupS: number): Promise<Figures> => {
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
const fanout = async (d: Deployment, durationS: number): Promise<Figures> => {
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

const scenarios: Record<string, (d: Deployment, durationS: number, warmupS: number) => Promise<Figures>> = {
  "send one-room": send(1),
  "send many-rooms": send(MANY_ROOMS),
  [`fanout ${FANOUT_ROOMS}x${FANOUT_MEMBERS}`]: fanout
}

/** One row per scenario and figure, one column per deployment. */
const sideBySide = (results: ReadonlyArray<Result>, deployments: ReadonlyArray<string>) => {
  const cell = (r: Result | undefined, f: (r: Result) => number | string | undefined) => (r === undefined ? "-" : String(f(r) ?? "-"))
  const figures: Array<[string, (r: Result) => number | string | undefined]> = [
    ["throughput", (r) => `${r.throughput} ${r.unit}`],
    ["send p50 / p99 ms", (r) => `${r.send_latency_ms.p50} / ${r.send_latency_ms.p99}`],
    ["receipt p50 / p99 ms", (r) => (r.receipt_latency_ms ? `${r.receipt_latency_ms.p50} / ${r.receipt_latency_ms.p99}` : undefined)],
    ["server cores (all instances)", (r) => r.server_cpu_cores],
    ["machine busy cores", (r) => r.machine_busy_cores],
    ["check", (r) => (r.check.ok ? "ok" : `BROKEN: ${r.check.problems[0]}`)]
  ]
  const rows = [["scenario", "figure", ...deployments]]
  for (const scenario of Object.keys(scenarios)) {
    for (const [figure, f] of figures) {
      const of = deployments.map((d) => results.find((r) => r.scenario === scenario && r.deployment === d))
      if (of.every((r) => r === undefined || f(r) === undefined)) continue
      rows.push([scenario, figure, ...of.map((r) => cell(r, f))])
    }
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)))
  return rows.map((row) => row.map((v, c) => (c < 2 ? v.padEnd(widths[c]!) : v.padStart(widths[c]!))).join("  ").trimEnd()).join("\n")
}

export const scaleout = async (durationS: number, warmupS: number) => {
  const pg = await preparePostgres()
  if (pg !== undefined) throw new Error(`--pg needs PostgreSQL (${pg})`)
  const redis = await probeRedis()
  if (redis !== undefined) throw new Error(`--pg needs Redis at ${REDIS_URL} (${redis})`)
  const starts = [sqliteNode, () => pgRedis(1), () => pgRedis(3)]
  let running: Deployment | undefined
  const watchdog = setTimeout(() => {
    progress("bench --pg: time limit reached, stopping")
    const deployment = running
    const exit = () => {
      for (const s of deployment?.servers ?? []) s.process.kill("SIGKILL")
      process.exit(2)
    }
    setTimeout(exit, 15_000)
    void (deployment?.stop() ?? Promise.resolve()).finally(exit)
  }, (starts.length * (Object.keys(scenarios).length * (durationS + warmupS + 12) + 20) + 20) * 1000)
  watchdog.unref()
  const conditions = `${os.cpus().length} cores (${os.cpus()[0]?.model.trim()}), load average ${os.loadavg().map((l) => l.toFixed(1)).join(" ")} at the start`
  const results: Array<Result> = []
  const names: Array<string> = []
  const began = performance.now()
  const at = () => `+${Math.round((performance.now() - began) / 1000)} s`
  try {
    for (const start of starts) {
      progress(`${at()} starting a deployment`)
      running = await start()
      names.push(running.name)
      for (const [scenario, run] of Object.entries(scenarios)) {
        progress(`${at()} [${running.name}] ${scenario}: ${warmupS} s warm-up, ${durationS} s measured...`)
        const result: Result = { scenario, deployment: running.name, ...(await run(running, durationS, warmupS)) }
        console.log(JSON.stringify(result))
        results.push(result)
      }
      progress(`${at()} [${running.name}] stopping`)
      await running.stop()
      running = undefined
    }
    progress(`${at()} done`)
  } finally {
    closeAgent()
    await running?.stop()
    clearTimeout(watchdog)
  }
  console.log(`\n${sideBySide(results, names)}\n\nmachine: ${conditions}; ${durationS} s measured per scenario after ${warmupS} s of warm-up`)
  if (results.some((r) => !r.check.ok)) process.exitCode = 1
}
