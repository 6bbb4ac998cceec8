/**
 * `npm run bench -- --pg`: the send and fan-out scenarios on one SQLite node, then on PostgreSQL +
 * Redis with one instance and with three, side by side. It creates a PostgreSQL database and a Redis
 * key prefix of its own for each deployment and drops them afterwards; everything is on 127.0.0.1.
 * With three instances, REST senders go round-robin over the instances and, in the fan-out, each
 * room's members sit on the instances its senders do not use, so every delivery crosses Redis.
 */
import * as crypto from "node:crypto"
import * as os from "node:os"
import { createDatabase, dropDatabase, dsnOf, preparePostgres } from "../test/support/postgres.js"
import { deleteKeys, probeRedis, REDIS_URL } from "../test/support/redis.js"
import { type BenchServer, closeAgent, startQuietServer } from "./lib.js"
import { type Deployment, FANOUT_MEMBERS, FANOUT_ROOMS, fanout, type Figures, MANY_ROOMS, send } from "./scaleload.js"
import { progress, range } from "./wsclient.js"

type Result = Figures & { readonly scenario: string; readonly deployment: string }

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
  // A hard bound: five minutes for the default 10 s per scenario, more for longer ones.
  const watchdog = setTimeout(() => {
    progress("bench --pg: time limit reached, stopping")
    const deployment = running
    const exit = () => {
      for (const s of deployment?.servers ?? []) s.process.kill("SIGKILL")
      process.exit(2)
    }
    setTimeout(exit, 15_000)
    void (deployment?.stop() ?? Promise.resolve()).finally(exit)
  }, Math.max(300, starts.length * (Object.keys(scenarios).length * (durationS + warmupS + 12) + 20) + 20) * 1000)
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
