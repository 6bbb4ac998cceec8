/**
 * WebSocket scenarios for bench/rest.ts: live fan-out to every member of one room (here), reconnect
 * sync of missed messages and the memory of idle connections (bench/wsconn.ts). The WS clients run in
 * this (load-generator) process, whose CPU and event-loop delay are reported next to the server's CPU.
 */
import { benchTenant, checkSeqs, cpuMs, loadMeter, round, summary } from "./lib.js"
import {
  type Client, closeAll, connect, connectAll, count, delivered, expectSeq, type Frame, progress, range, sendPaced, sleep, type Summary,
  verify, verifySends, type WsResult, type WsScenario
} from "./wsclient.js"
import { storm } from "./storm.js"
import { idle, sync } from "./wsconn.js"

export type { WsResult } from "./wsclient.js"


const ratio = (a: Summary, b: Summary) => ({ p50: round(a.p50 / b.p50), p99: round(a.p99 / b.p99) })

/**
 * Every member of one room connected; SENDERS REST senders at `rate` msg/s for the duration. With
 * `baseline`, the same senders and rate also go, before, into a 2-member room (both members connected)
 * and, after the big room's sockets close, into the big room again with nobody connected.
 */
const fanout = (members: number, rate: number, baseline: boolean, SENDERS: number): WsScenario => {
  const description = `${SENDERS} REST senders at ${rate} msg/s into one group room of ${members}, every member on WS` +
    (baseline ? "; vs a 2-member room, and the same room with nobody connected" : "")
  return {
    description,
    budgetS: (d) => 2 * d + 90,
    run: async (server, name, durationS) => {
      const { apiKey, headers, api } = await benchTenant(server, `bench-${name}`)
      const pace = { senders: SENDERS, rate, durationS }
      const users = range(members).map((i) => `m${i}`)
      const room = await api("POST", "/rooms", users[0]!, { type: "group", members: users, name })
      const receipt: Array<number> = []
      const others: Record<string, number> = {}
      let lastAt = 0
      const onFrame = (roomId: string, samples?: Array<number>) => (c: Client, f: Frame) => {
        if (f.type !== "message" || f.room_id !== roomId) return count(others, f.type)
        expectSeq(c, f.seq)
        lastAt = performance.now()
        samples?.push(lastAt - parseFloat(f.content ?? ""))
      }
      progress(`[${name}] connecting ${members} clients...`)
      const connectCpu = cpuMs(server.pid)
      const connectStart = performance.now()
      const clients = await connectAll(users, (u) => connect(server, apiKey, u, onFrame(room.room_id, receipt)))
      const connectMs = performance.now() - connectStart
      await sleep(1000) // the last presence updates of the connects
      const connectFrames = { ...others }
      const connect_ = { all_ms: round(connectMs, 0), server_cpu_ms: round(cpuMs(server.pid) - connectCpu, 0), frames_received: connectFrames }
      for (const k of Object.keys(others)) delete others[k]

      const problems: Array<string> = []
      const pairs: Array<Client> = []
      let pair: { send_latency_ms: Summary } & Record<string, unknown> | undefined
      if (baseline) {
        const small = await api("POST", "/rooms", "p0", { type: "group", members: ["p1"], name: "pair" })
        pairs.push(...await connectAll(["p0", "p1"], (u) => connect(server, apiKey, u, onFrame(small.room_id))))
        progress(`[${name}] 2-member room at ${rate} msg/s for ${durationS / 2} s...`)
        const stop = loadMeter(server.pid)
        const sent = await sendPaced(server, headers, small.room_id, ["p0", "p1"], { ...pace, durationS: durationS / 2 })
        await delivered(pairs, sent.seqs.length)
        const { serverCpuMs, server_cpu_cores } = stop()
        problems.push(...verifySends(sent.statuses, sent.seqs), ...verify(pairs, 1, sent.seqs.length))
        pair = { messages: sent.seqs.length, send_latency_ms: summary(sent.latencies), server_cpu_ms_per_msg: round(serverCpuMs / sent.seqs.length, 3), server_cpu_cores }
      }

      progress(`[${name}] ${members}-member room at ${rate} msg/s for ${durationS} s...`)
      const stop = loadMeter(server.pid)
      const started = performance.now()
      const sent = await sendPaced(server, headers, room.room_id, users, pace)
      await delivered(clients, sent.seqs.length)
      const { wallMs: _, serverCpuMs, ...load } = stop()
      const n = sent.seqs.length
      problems.push(...verifySends(sent.statuses, sent.seqs), ...verify(clients, 1, n))
      await closeAll([...clients, ...pairs])
      const deliveries = clients.reduce((sum, c) => sum + c.received, 0)
      const latency = summary(sent.latencies)

      let alone: { send_latency_ms: Summary } & Record<string, unknown> | undefined
      if (baseline) {
        await sleep(1000)
        progress(`[${name}] ${members}-member room, nobody connected, at ${rate} msg/s for ${durationS / 2} s...`)
        const stopAlone = loadMeter(server.pid)
        const more = await sendPaced(server, headers, room.room_id, users, { ...pace, durationS: durationS / 2 })
        const { serverCpuMs: cpu, server_cpu_cores } = stopAlone()
        const history = await checkSeqs(server.url, headers(users[0]!), room.room_id, n + more.seqs.length)
        problems.push(...verifySends(more.statuses, more.seqs, n + 1), ...history.problems)
        alone = { messages: more.seqs.length, send_latency_ms: summary(more.latencies), server_cpu_ms_per_msg: round(cpu / more.seqs.length, 3), server_cpu_cores, history_checked: history.count }
      }
      const vs = pair && alone && { connected: ratio(latency, pair.send_latency_ms), nobody_connected: ratio(alone.send_latency_ms, pair.send_latency_ms) }
      return {
        scenario: name,
        description,
        members,
        senders: SENDERS,
        rate_per_s: rate,
        connect: connect_,
        send_duration_s: round(sent.wallMs / 1000),
        messages: n,
        statuses: sent.statuses,
        deliveries,
        deliveries_expected: n * members,
        // First send to last receipt.
        deliveries_per_s: round(deliveries / ((lastAt - started) / 1000), 0),
        send_latency_ms: latency,
        // Receipt time minus the send time in the content (taken just before the POST).
        receipt_latency_ms: summary(receipt),
        other_frames: others,
        server_cpu_ms_per_msg: round(serverCpuMs / Math.max(1, n), 3),
        server_cpu_us_per_delivery: round((serverCpuMs * 1000) / Math.max(1, deliveries), 1),
        ...load,
        ...(pair && alone ? { baseline_2_members: pair, nobody_connected: alone, send_latency_vs_2_members: vs } : {}),
        headline: vs
          ? `send p50 x${vs.connected.p50} (nobody on WS: x${vs.nobody_connected.p50}) vs 2 members`
          : `${members} connected in ${connect_.all_ms} ms`,
        check: { ok: problems.length === 0, problems: problems.slice(0, 10) }
      }
    }
  }
}

export const wsScenarios: Record<string, WsScenario> = {
  // 1,100 msg/s into 100 members offers 110,000 deliveries/s: a tenth above the target, so the figure
  // (first send to last receipt) shows whether the server keeps the target's pace, which an offer of
  // exactly 100,000/s could never show.
  "fanout-100": fanout(100, 1100, false, 16),
  "fanout-1000": fanout(1000, 10, true, 4),
  "sync-2000": sync,
  "idle-conns": idle,
  "storm-5000": storm
}

export const wsTable = (results: ReadonlyArray<WsResult>) => {
  const cell = (v: number | undefined) => (v === undefined ? "-" : String(v))
  const rows = [
    ["scenario", "msgs", "deliveries", "deliv/s", "send p50", "send p99", "recv p50", "recv p99", "srv cores", "gen cores", "gen ELD p99", "check", "key figure"],
    ...results.map((r) => [
      r.scenario,
      cell(r.messages),
      cell(r.deliveries),
      cell(r.deliveries_per_s),
      cell(r.send_latency_ms?.p50),
      cell(r.send_latency_ms?.p99),
      cell(r.receipt_latency_ms?.p50),
      cell(r.receipt_latency_ms?.p99),
      cell(r.server_cpu_cores),
      cell(r.loadgen_cpu_cores),
      cell(r.loadgen_event_loop_delay_ms?.p99),
      r.check.ok ? "ok" : `BROKEN (${r.check.problems.length}+)`,
      r.headline
    ])
  ]
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)))
  const line = (row: Array<string>) => row.map((v, c) => (c === 0 || c === row.length - 1 ? v.padEnd(widths[c]!) : v.padStart(widths[c]!)))
  return rows.map((row) => line(row).join("  ").trimEnd()).join("\n")
}
