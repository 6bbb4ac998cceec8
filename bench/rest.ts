/**
 * REST and WebSocket benchmarks against the real server process (dist/main.js) on 127.0.0.1 and a temporary database.
 *
 *   npm run bench                      every scenario, under 5 minutes in all; the REST ones and the fan-outs 5 s each
 *   npm run bench -- --scenario one-room --duration 5 --warmup 1
 *   scenarios: one-room, many-rooms (REST, here); fanout-100, fanout-1000, sync-2000, idle-conns, storm-5000 (WebSocket, bench/ws.ts)
 *   npm run bench -- --pg              send and fan-out on SQLite x1, PostgreSQL + Redis x1 and x3, side by side (bench/scaleout.ts)
 *
 * stdout: one JSON object per scenario, an aligned table per kind, then every figure against its target. Progress goes to stderr.
 */
import { parseArgs } from "node:util"
import { type Api, type BenchServer, benchTenant, checkSeqs, closeAgent, gcBetween, loadMeter, request, round, serverGc, startQuietServer, summary } from "./lib.js"
import { type WsResult, wsScenarios, wsTable } from "./ws.js"
import { checksOf, targetTable } from "./targets.js"
import { scaleout } from "./scaleout.js"
import { closeAll, connect, connectAll, expectSeq, sleep, verify } from "./wsclient.js"

const SENDERS = 32
/** Every scenario in one run stays within this, setup and checks included. */
const TOTAL_BUDGET_S = 295

interface Target {
  readonly roomId: string
  readonly senders: ReadonlyArray<string>
}

interface Scenario {
  readonly description: string
  /** Every member holds a WebSocket; each send's receipt by the members is timed and counted. */
  readonly connected?: boolean
  /** Creates the rooms and their members. */
  setup(api: Api): Promise<ReadonlyArray<Target>>
  /** The room and user of a sender's next message. */
  pick(targets: ReadonlyArray<Target>, sender: number, n: number): { target: Target; user: string }
}

const scenarios: Record<string, Scenario> = {
  "one-room": {
    description: `${SENDERS} senders into one group room`,
    setup: async (api) => {
      const users = Array.from({ length: SENDERS }, (_, i) => `sender${i}`)
      const room = await api("POST", "/rooms", users[0]!, { type: "group", members: users.slice(1), name: "bench" })
      return [{ roomId: room.room_id, senders: users }]
    },
    pick: (targets, sender) => ({ target: targets[0]!, user: targets[0]!.senders[sender]! })
  },
  "many-rooms": {
    description: `${SENDERS} senders over 200 rooms of 2 members, all 400 members connected over WS`,
    connected: true,
    setup: async (api) => {
      const targets: Array<Target> = []
      for (let i = 0; i < 200; i++) {
        const users = [`a${i}`, `b${i}`]
        const room = await api("POST", "/rooms", users[0]!, { type: "group", members: [users[1]], name: `bench ${i}` })
        targets.push({ roomId: room.room_id, senders: users })
      }
      return targets
    },
    // Sender s walks rooms s, s+32, s+64, ... so every room gets traffic and concurrent senders rarely share one.
    pick: (targets, sender, n) => {
      const target = targets[(sender + SENDERS * n) % targets.length]!
      return { target, user: target.senders[n % 2]! }
    }
  }
}

const run = async (server: BenchServer, name: string, scenario: Scenario, durationS: number, warmupS: number) => {
  const { apiKey, headers, api } = await benchTenant(server, `bench-${name}`)
  const targets = await scenario.setup(api)
  const receipts: Array<number> = []
  let measuring = false
  const clients = scenario.connected === true
    ? await connectAll(targets.flatMap((t) => t.senders.map((user) => ({ user, roomId: t.roomId }))), ({ user, roomId }) =>
      connect(server, apiKey, user, (c, f) => {
        if (f.type !== "message" || f.room_id !== roomId) return
        expectSeq(c, f.seq)
        if (measuring) receipts.push(performance.now() - parseFloat(f.content ?? ""))
      }).then((c) => Object.assign(c, { roomId })))
    : []
  process.stderr.write(`[${name}] ${scenario.description}: ${warmupS} s warm-up, ${durationS} s measured...\n`)

  const latencies: Array<number> = []
  const statuses: Record<string, number> = {}
  const stored = new Map<string, number>()
  /** 32 closed-loop senders until `end`; the warm-up's sends are stored (and checked) but not measured. */
  const drive = (end: number, measure: boolean) =>
    Promise.all(Array.from({ length: SENDERS }, async (_, sender) => {
      for (let n = 0; performance.now() < end; n++) {
        const { target, user } = scenario.pick(targets, sender, n)
        const t0 = performance.now()
        const res = await request(server.url, "POST", `/rooms/${target.roomId}/messages`, headers(user), {
          content: `${t0} message ${n} from ${user}`
        })
        if (measure) {
          latencies.push(performance.now() - t0)
          statuses[res.status] = (statuses[res.status] ?? 0) + 1
        }
        if (res.status === 201) stored.set(target.roomId, (stored.get(target.roomId) ?? 0) + 1)
      }
    }))
  // A fresh process answers its first burst slowly (JIT, statement cache): warm up before measuring.
  await drive(performance.now() + warmupS * 1000, false)

  const gcBefore = await serverGc(server.url)
  const stop = loadMeter(server.pid)
  measuring = true
  await drive(performance.now() + durationS * 1000, true)
  const { wallMs, serverCpuMs: serverCpu, ...load } = stop()
  const gc = gcBetween(gcBefore, await serverGc(server.url), wallMs)
  const lost: Array<string> = []
  if (clients.length > 0) {
    const deadline = performance.now() + 15_000
    const behind = () => clients.filter((c) => c.received < (stored.get(c.roomId) ?? 0) && c.closed === undefined)
    while (behind().length > 0 && performance.now() < deadline) await sleep(20)
    measuring = false
    for (const c of clients) lost.push(...verify([c], 1, stored.get(c.roomId) ?? 0))
    await closeAll(clients)
  }

  process.stderr.write(`[${name}] verifying seqs...\n`)
  const problems: Array<string> = []
  let checked = 0
  for (const target of targets) {
    const result = await checkSeqs(server.url, headers(target.senders[0]!), target.roomId, stored.get(target.roomId) ?? 0)
    checked += result.count
    problems.push(...result.problems)
  }

  const ok = statuses["201"] ?? 0
  return {
    scenario: name,
    description: scenario.description,
    duration_s: round(wallMs / 1000),
    warmup_s: warmupS,
    senders: SENDERS,
    rooms: targets.length,
    requests: latencies.length,
    messages: ok,
    statuses,
    msgs_per_s: round(ok / (wallMs / 1000), 1),
    latency_ms: summary(latencies),
    ...(clients.length > 0
      ? {
        connected: clients.length,
        // Receipt time minus the send time in the content (taken just before the POST), over every member.
        receipt_latency_ms: summary(receipts),
        deliveries: clients.reduce((sum, c) => sum + c.received, 0),
        lost: { ok: lost.length === 0, problems: lost.slice(0, 10) }
      }
      : {}),
    server_cpu_ms: round(serverCpu, 0),
    server_cpu_ms_per_msg: round(serverCpu / Math.max(1, ok), 3),
    // The server's event loop paused for garbage collection while measured (its /metrics).
    server_gc: gc,
    ...load,
    // Checked: every message stored, warm-up included; each room's history must be exactly seq 1..n.
    seqs: { gap_free: problems.length === 0, messages_checked: checked, problems: problems.slice(0, 10) }
  }
}

type Result = Awaited<ReturnType<typeof run>>

const table = (results: ReadonlyArray<Result>) => {
  const rows = [
    ["scenario", "msgs", "msg/s", "p50 ms", "p99 ms", "max ms", "recv p99 ms", "srv cpu ms/msg", "srv cores", "srv GC %", "gen cores", "gen ELD p99 ms", "seqs"],
    ...results.map((r) => [
      r.scenario,
      String(r.messages),
      String(r.msgs_per_s),
      String(r.latency_ms.p50),
      String(r.latency_ms.p99),
      String(r.latency_ms.max),
      r.receipt_latency_ms === undefined ? "-" : `${r.receipt_latency_ms.p99}${r.lost?.ok === false ? " LOST" : ""}`,
      String(r.server_cpu_ms_per_msg),
      String(r.server_cpu_cores),
      String(round(r.server_gc.share_of_wall * 100, 1)),
      String(r.loadgen_cpu_cores),
      String(r.loadgen_event_loop_delay_ms.p99),
      r.seqs.gap_free ? `1..N ok (${r.seqs.messages_checked})` : `BROKEN (${r.seqs.problems.length}+)`
    ])
  ]
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)))
  return rows.map((row) => row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  ")).join("\n")
}

const main = async () => {
  const { values } = parseArgs({
    options: { scenario: { type: "string" }, duration: { type: "string", default: "5" }, warmup: { type: "string", default: "1" }, pg: { type: "boolean", default: false } }
  })
  const duration = Number(values.duration)
  const warmup = Number(values.warmup)
  if (!(duration > 0 && duration <= 600)) throw new Error(`--duration must be a number of seconds in (0, 600], got ${values.duration}`)
  if (!(warmup >= 0 && warmup <= 60)) throw new Error(`--warmup must be a number of seconds in [0, 60], got ${values.warmup}`)
  if (values.pg) return scaleout(duration, warmup)
  const all = [...Object.keys(scenarios), ...Object.keys(wsScenarios)]
  const names = values.scenario === undefined ? all : [values.scenario]
  for (const name of names) {
    if (!all.includes(name)) throw new Error(`unknown scenario ${name}; one of ${all.join(", ")}`)
  }
  const budgetS = Math.min(TOTAL_BUDGET_S, names.reduce((sum, name) => sum + (wsScenarios[name]?.budgetS(duration) ?? warmup + duration + 30), 30))
  const server = await startQuietServer()
  const results: Array<Result> = []
  const wsResults: Array<WsResult> = []
  const report = () => {
    if (results.length > 0) console.log(`\n${table(results)}`)
    if (wsResults.length > 0) console.log(`\n${wsTable(wsResults)}`)
    console.log(`\n${targetTable([...results, ...wsResults].flatMap(checksOf))}`)
  }
  // A hard bound: setup, load and verification of every scenario; past it, what finished is reported.
  const watchdog = setTimeout(() => {
    process.stderr.write(`bench: time limit of ${budgetS} s reached, stopping; scenarios not finished are left out\n`)
    server.process.kill("SIGKILL")
    report()
    process.exit(2)
  }, budgetS * 1000)
  watchdog.unref()
  try {
    for (const name of names) {
      const ws = wsScenarios[name]
      const result = ws === undefined ? await run(server, name, scenarios[name]!, duration, warmup) : await ws.run(server, name, duration)
      console.log(JSON.stringify(result))
      if (ws === undefined) results.push(result as Result)
      else wsResults.push(result as WsResult)
    }
  } finally {
    closeAgent()
    await server.stop()
    clearTimeout(watchdog)
  }
  report()
  if (results.some((r) => !r.seqs.gap_free || r.lost?.ok === false) || wsResults.some((r) => !r.check.ok)) process.exitCode = 1
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? e.message : String(e)}\n`)
  process.exit(1)
})
