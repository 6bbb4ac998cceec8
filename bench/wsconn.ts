/** Reconnect sync of missed messages, and the memory of idle connections: scenarios of bench/ws.ts. */
import { benchTenant, cpuMs, request, round, rssKb, startInspectedServer } from "./lib.js"
import {
  type Client, closeAll, connect, connectAll, count, delivered, expectSeq, progress, range, sleep, verify, verifySends, type WsScenario
} from "./wsclient.js"

const SYNC_MESSAGES = 2000
const SYNC_ROUNDS = 5
const IDLE_CONNECTIONS = 10_000
const IDLE_STEP = 2500
/** Heartbeats far more often than the 30 s default, so the idle window holds several rounds of pings. */
const IDLE_HEARTBEAT = "2s"
const IDLE_WINDOW_MS = 10_000

export const sync: WsScenario = {
  description: `one user reconnects to ${SYNC_MESSAGES} missed messages in one room (${SYNC_ROUNDS} rounds, no ack), then after acking ${SYNC_MESSAGES * 3 / 4}`,
  budgetS: () => 90,
  run: async (server, name) => {
    const { apiKey, headers, api } = await benchTenant(server, `bench-${name}`)
    const room = await api("POST", "/rooms", "writer", { type: "group", members: ["reader"], name })
    progress(`[${name}] sending ${SYNC_MESSAGES} messages while the reader is away...`)
    const statuses: Record<string, number> = {}
    const seqs: Array<number> = []
    let issued = 0
    await Promise.all(range(16).map(async () => {
      while (issued < SYNC_MESSAGES) {
        const res = await request(server.url, "POST", `/rooms/${room.room_id}/messages`, headers("writer"), { content: `missed ${issued++}` })
        count(statuses, String(res.status))
        if (res.status === 201) seqs.push(JSON.parse(res.body).seq)
      }
    }))
    const problems = verifySends(statuses, seqs)
    /** Connects the reader, who expects seqs after+1..SYNC_MESSAGES; ms from connecting (and from open) to the last. */
    const syncOnce = async (after: number) => {
      let doneAt = NaN
      const t0 = performance.now()
      const client = await connect(server, apiKey, "reader", (c, f) => {
        if (f.type !== "message" || f.room_id !== room.room_id) return
        expectSeq(c, f.seq)
        if (f.seq === SYNC_MESSAGES) doneAt = performance.now()
      }, after + 1)
      const openMs = performance.now() - t0
      await delivered([client], SYNC_MESSAGES - after, 20_000)
      problems.push(...verify([client], after + 1, SYNC_MESSAGES))
      await closeAll([client])
      return { total: doneAt - t0, afterOpen: doneAt - t0 - openMs }
    }
    progress(`[${name}] ${SYNC_ROUNDS} reconnects...`)
    const cpuBefore = cpuMs(server.pid)
    const rounds: Array<{ total: number; afterOpen: number }> = []
    for (let i = 0; i < SYNC_ROUNDS; i++) rounds.push(await syncOnce(0))
    const cpu = cpuMs(server.pid) - cpuBefore
    const acked = SYNC_MESSAGES * 3 / 4
    await api("POST", "/acks", "reader", { room_id: room.room_id, seq: acked })
    const afterAck = await syncOnce(acked)
    const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
    const totals = rounds.map((r) => round(r.total))
    return {
      scenario: name,
      description: sync.description,
      messages: SYNC_MESSAGES,
      connect_to_last_ms: { first: totals[0], median: median(totals), max: Math.max(...totals), all: totals },
      open_to_last_ms_median: round(median(rounds.map((r) => r.afterOpen))),
      deliveries_per_s: round(SYNC_MESSAGES / (median(totals) / 1000), 0),
      first_round_msgs_per_s: round(SYNC_MESSAGES / (totals[0]! / 1000), 0),
      server_cpu_us_per_synced_msg: round((cpu * 1000) / (SYNC_ROUNDS * SYNC_MESSAGES), 1),
      [`after_ack_${acked}`]: { messages: SYNC_MESSAGES - acked, connect_to_last_ms: round(afterAck.total) },
      headline: `${SYNC_MESSAGES} in ${round(median(totals), 0)} ms (median of ${SYNC_ROUNDS})`,
      check: { ok: problems.length === 0, problems: problems.slice(0, 10) }
    }
  }
}

export const idle: WsScenario = {
  description: `${IDLE_CONNECTIONS} idle WS connections of distinct users on a server of its own (HEARTBEAT_INTERVAL=${IDLE_HEARTBEAT}); VmRSS and JS heap after a forced GC; server CPU while idle`,
  budgetS: () => 240,
  run: async (_shared, name) => {
    const inspected = await startInspectedServer({ HEARTBEAT_INTERVAL: IDLE_HEARTBEAT })
    const { server } = inspected
    try {
      const { apiKey } = await benchTenant(server, `bench-${name}`)
      let pongs = 0
      const open = (user: string) => connect(server, apiKey, user, (_c, f) => void (f.type === "pong" && pongs++))
      // A first round loads and compiles the WS path; it is not counted.
      await closeAll(await connectAll(range(100).map((i) => `warm${i}`), open))
      await sleep(500)
      const steps = [{ connections: 0, rss_kb_before_gc: rssKb(server.pid), ...await inspected.collect() }]
      const clients: Array<Client> = []
      let connectMs = 0
      progress(`[${name}] opening ${IDLE_CONNECTIONS} connections, sampling every ${IDLE_STEP}...`)
      while (clients.length < IDLE_CONNECTIONS) {
        const t0 = performance.now()
        clients.push(...await connectAll(range(IDLE_STEP).map((i) => `idle${clients.length + i}`), open))
        connectMs += performance.now() - t0
        await sleep(500)
        steps.push({ connections: clients.length, rss_kb_before_gc: rssKb(server.pid), ...await inspected.collect() })
      }
      const idleCpuBefore = cpuMs(server.pid)
      await sleep(IDLE_WINDOW_MS)
      const idleCores = round((cpuMs(server.pid) - idleCpuBefore) / IDLE_WINDOW_MS, 3)
      // Still served: every socket answers a ping frame.
      for (const c of clients) c.socket.send(JSON.stringify({ type: "ping" }))
      const deadline = performance.now() + 10_000
      while (pongs < IDLE_CONNECTIONS && performance.now() < deadline) await sleep(10)
      const problems = [
        ...(pongs === IDLE_CONNECTIONS ? [] : [`${pongs} of ${IDLE_CONNECTIONS} sockets answered a ping`]),
        ...clients.flatMap((c) => [...c.problems, ...(c.closed === undefined ? [] : [`${c.user}: closed by the server: ${c.closed}`])])
      ]
      await closeAll(clients)
      await sleep(6000) // past the presence grace period, whose timers outlive the sockets
      const closed = await inspected.collect()
      const [first, last] = [steps[0]!, steps[steps.length - 1]!]
      const per = (kb: number) => round(kb / IDLE_CONNECTIONS, 1)
      return {
        scenario: name,
        description: idle.description,
        connections: IDLE_CONNECTIONS,
        connects_per_s: round(IDLE_CONNECTIONS / (connectMs / 1000), 0),
        kb_per_connection: { rss: per(last.rss_kb - first.rss_kb), js_heap: per(last.heap_kb - first.heap_kb), rss_before_gc: per(last.rss_kb_before_gc - first.rss_kb_before_gc) },
        idle_cpu_cores: idleCores,
        steps,
        after_close: closed,
        headline: `${per(last.rss_kb - first.rss_kb)} KB RSS/conn (JS heap ${per(last.heap_kb - first.heap_kb)}), idle ${round(idleCores * 100, 1)}% CPU`,
        check: { ok: problems.length === 0, problems: problems.slice(0, 10) }
      }
    } finally {
      await inspected.stop()
    }
  }
}
