/** The reconnect storm: every client dropped at once reconnects at once and syncs what it missed. A scenario of bench/ws.ts. */
import { benchTenant, loadMeter, request, round } from "./lib.js"
import { type Client, closeAll, connect, connectAll, expectSeq, type Frame, progress, range, sleep, verify, type WsScenario } from "./wsclient.js"

const CLIENTS = 5000
const ROOM_SIZE = 10
const MISSED = 2

/** Connects, trying again after a short random pause when the server is too busy to accept. */
const connectRetrying = async (open: () => Promise<Client>, attempts = 30): Promise<Client> => {
  for (let i = 1; ; i++) {
    try {
      return await open()
    } catch (e) {
      if (i >= attempts) throw e
      await sleep(50 + Math.random() * 200 * Math.min(i, 5))
    }
  }
}

export const storm: WsScenario = {
  description: `${CLIENTS} clients in rooms of ${ROOM_SIZE} dropped at once; ${MISSED} messages per room sent meanwhile; all reconnect at once`,
  budgetS: () => 180,
  run: async (server, name) => {
    const { apiKey, headers, api } = await benchTenant(server, `bench-${name}`)
    const users = range(CLIENTS).map((i) => `s${i}`)
    const rooms: Array<string> = []
    progress(`[${name}] creating ${CLIENTS / ROOM_SIZE} rooms...`)
    await Promise.all(range(8).map(async (w) => {
      for (let r = w; r < CLIENTS / ROOM_SIZE; r += 8) {
        const members = users.slice(r * ROOM_SIZE, (r + 1) * ROOM_SIZE)
        rooms[r] = (await api("POST", "/rooms", members[0]!, { type: "group", members: members.slice(1) })).room_id
      }
    }))
    const roomOf = (user: number) => rooms[Math.floor(user / ROOM_SIZE)]!
    const onFrame = (roomId: string) => (c: Client, f: Frame) => f.type === "message" && f.room_id === roomId && expectSeq(c, f.seq)
    progress(`[${name}] connecting ${CLIENTS} clients...`)
    const first = await connectAll(range(CLIENTS), (i) => connect(server, apiKey, users[i]!, onFrame(roomOf(i))))
    await sleep(1000)
    for (const c of first) c.socket.terminate()
    progress(`[${name}] all dropped; ${MISSED} messages into each room...`)
    const statuses: Record<string, number> = {}
    const seqs: Array<number> = []
    await Promise.all(range(16).map(async (w) => {
      for (let r = w; r < rooms.length; r += 16) {
        for (let m = 0; m < MISSED; m++) {
          const res = await request(server.url, "POST", `/rooms/${rooms[r]}/messages`, headers(users[r * ROOM_SIZE]!), { content: `missed ${m}` })
          statuses[res.status] = (statuses[res.status] ?? 0) + 1
          if (res.status === 201) seqs.push(JSON.parse(res.body).seq)
        }
      }
    }))
    const problems = Object.keys(statuses).some((s) => s !== "201") ? [`send statuses ${JSON.stringify(statuses)}`] : []
    if (seqs.length !== rooms.length * MISSED) problems.push(`${seqs.length} of ${rooms.length * MISSED} sends stored`)

    progress(`[${name}] ${CLIENTS} reconnecting at once...`)
    const meter = loadMeter(server.pid)
    const started = performance.now()
    let syncedAt = NaN
    const done = new Set<Client>()
    const second = await Promise.all(range(CLIENTS).map((i) =>
      connectRetrying(() =>
        connect(server, apiKey, users[i]!, (c, f) => {
          onFrame(roomOf(i))(c, f)
          if (c.received === MISSED && !done.has(c)) {
            done.add(c)
            if (done.size === CLIENTS) syncedAt = performance.now()
          }
        })
      )
    ))
    const connectedMs = performance.now() - started
    const deadline = started + 30_000
    while (done.size < CLIENTS && performance.now() < deadline) await sleep(20)
    const { wallMs: _, serverCpuMs, ...load } = meter()
    await sleep(200)
    problems.push(...verify(second, 1, MISSED))
    await closeAll(second)
    const allMs = round(syncedAt - started, 0)
    return {
      scenario: name,
      description: storm.description,
      clients: CLIENTS,
      messages: seqs.length,
      deliveries: second.reduce((sum, c) => sum + c.received, 0),
      deliveries_expected: CLIENTS * MISSED,
      all_reconnected_ms: round(connectedMs, 0),
      all_synced_ms: Number.isNaN(allMs) ? null : allMs,
      synced_clients: done.size,
      server_cpu_ms: round(serverCpuMs, 0),
      server_cpu_ms_per_reconnect: round(serverCpuMs / CLIENTS, 2),
      // The 5000 clients share this one process: its own CPU and event-loop delay say how far it held the pace.
      ...load,
      headline: Number.isNaN(allMs) ? `${done.size} of ${CLIENTS} synced in 30 s` : `${CLIENTS} reconnected and synced in ${allMs} ms`,
      check: { ok: problems.length === 0, problems: problems.slice(0, 10) }
    }
  }
}
