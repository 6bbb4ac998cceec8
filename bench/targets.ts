/** The performance targets each scenario is held to, and the table of figure against target. */

export interface Check {
  readonly scenario: string
  readonly figure: string
  readonly value: number | undefined
  readonly target: string
  readonly ok: boolean
}

type Result = { readonly scenario: string; readonly [field: string]: unknown }

const at = (r: Result, path: string): number | undefined => {
  let v: unknown = r
  for (const key of path.split(".")) v = v === null || typeof v !== "object" ? undefined : (v as Record<string, unknown>)[key]
  return typeof v === "number" ? v : undefined
}
const min = (r: Result, figure: string, path: string, target: number): Check => {
  const value = at(r, path)
  return { scenario: r.scenario, figure, value, target: `≥ ${target}`, ok: value !== undefined && value >= target }
}
const max = (r: Result, figure: string, path: string, target: number): Check => {
  const value = at(r, path)
  return { scenario: r.scenario, figure, value, target: `≤ ${target}`, ok: value !== undefined && value <= target }
}
const holds = (r: Result, figure: string, ok: boolean): Check => ({ scenario: r.scenario, figure, value: ok ? 1 : 0, target: "yes", ok })
const checked = (r: Result) =>
  (r.check as { ok?: boolean } | undefined)?.ok ?? ((r.seqs as { gap_free?: boolean } | undefined)?.gap_free === true && (r.lost as { ok?: boolean } | undefined)?.ok !== false)

/** The targets of the performance issue, on one 2-core node. */
export const checksOf = (r: Result): Array<Check> => {
  switch (r.scenario) {
    case "one-room":
      return [min(r, "messages/s", "msgs_per_s", 6500), max(r, "send p99 ms", "latency_ms.p99", 20), holds(r, "seqs gap-free", checked(r))]
    case "many-rooms":
      return [min(r, "messages/s", "msgs_per_s", 6500), max(r, "send-to-receipt p99 ms", "receipt_latency_ms.p99", 50), holds(r, "zero lost", checked(r))]
    case "fanout-100":
      return [min(r, "deliveries/s", "deliveries_per_s", 100_000), max(r, "send-to-receipt p99 ms", "receipt_latency_ms.p99", 50), holds(r, "zero lost", checked(r))]
    case "fanout-1000":
      return [max(r, "send p50 vs 2 members", "send_latency_vs_2_members.connected.p50", 1.5), max(r, "receipt p99 ms", "receipt_latency_ms.p99", 250), holds(r, "zero lost", checked(r))]
    case "idle-conns":
      return [min(r, "connections", "connections", 10_000), max(r, "KB RSS per connection", "kb_per_connection.rss", 20), max(r, "idle CPU cores", "idle_cpu_cores", 0.1), holds(r, "all served", checked(r))]
    case "sync-2000":
      return [min(r, "synced msgs/s", "deliveries_per_s", 20_000), holds(r, "in order", checked(r))]
    case "storm-5000":
      return [max(r, "all synced ms", "all_synced_ms", 10_000), holds(r, "zero lost", checked(r))]
    default:
      return []
  }
}

export const targetTable = (checks: ReadonlyArray<Check>) => {
  const rows = [
    ["scenario", "figure", "measured", "target", ""],
    ...checks.map((c) => [c.scenario, c.figure, c.value === undefined ? "-" : String(c.value), c.target, c.ok ? "met" : "NOT MET"])
  ]
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)))
  return rows.map((row) => row.map((cell, i) => (i === 2 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join("  ").trimEnd()).join("\n")
}
