import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Cluster, metric, startCluster } from "../support/cluster.js"
import { type OwnRedis, ownRedis, redisGate } from "../support/redis.js"
import { client, type RunningServer } from "../support/server.js"
import { connectWs, type Frame } from "../support/ws.js"
import { eventually, FAST, fullHistory, isMessage, logged, range, sleep } from "./_helpers.js"

const gate = await redisGate()

const health = async (server: RunningServer) => {
  const res = await fetch(`${server.url}/health`)
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

describe.skipIf(gate.skip)("Redis outages and a killed instance, under two instances", () => {
  let redis: OwnRedis | undefined
  let cluster: Cluster
  let servers: Array<RunningServer> = []
  let tenant: Cluster["tenant"]

  beforeAll(async () => {
    if (gate.failure !== undefined) throw new Error(gate.failure)
    // A redis-server of this test's own: the machine's shared one is never stopped.
    redis = await ownRedis()
    cluster = await startCluster(2, {
      redisUrl: redis.url,
      env: { WORKER_INTERVAL: "200ms", RETRY_INTERVAL: "1s", PRESENCE_GRACE: "1s" },
      tenantConfig: FAST
    })
    servers = cluster.servers
    tenant = cluster.tenant
  })
  afterAll(async () => {
    if (redis !== undefined) await redis.start().catch(() => undefined)
    await cluster?.stop()
    await redis?.stop()
  })

  it("keeps answering sends while Redis is down, and a connected client gets everything once it is back", async () => {
    const viaA = client(servers[0]!.url, tenant.apiKey).as("sam")
    const room = (await viaA.post("/rooms", { type: "group", members: ["tia"] })).body.room_id as string
    const tia = await connectWs(servers[1]!.url, { headers: { "x-api-key": tenant.apiKey, "x-user-id": "tia" } })
    expect((await viaA.post(`/rooms/${room}/messages`, { content: "before" })).status).toBe(201)
    await tia.waitFor(isMessage(room), 1, 5_000)

    await redis!.stop()
    for (const i of range(2, 11)) {
      const started = Date.now()
      const res = await viaA.post(`/rooms/${room}/messages`, { content: `during ${i}` })
      expect(res.status, "a send never fails on Redis").toBe(201)
      expect(res.body.seq).toBe(i)
      expect(Date.now() - started, "nor waits on it").toBeLessThan(1_000)
    }
    await sleep(1_000)
    await redis!.start()

    await tia.waitFor(isMessage(room), 11, 15_000)
    // A reconnects by itself and says so; live events flow again.
    await logged(servers[0]!, "Redis bus available again")
    expect((await viaA.post(`/rooms/${room}/messages`, { content: "after" })).status).toBe(201)
    await tia.waitFor(isMessage(room), 12, 10_000)
    expect(tia.frames.filter(isMessage(room)).map((f) => f.seq)).toEqual(range(1, 12))
    expect(tia.socket.readyState, "the client was never disconnected").toBe(tia.socket.OPEN)

    // One warning per outage for the live events A could not publish, and A said when Redis was back.
    const warnings = servers[0]!.logs.filter((l) => l.includes("Redis bus unavailable") && l.includes('"level":"warn"'))
    expect(warnings).toHaveLength(1)
    expect(servers[0]!.logs.some((l) => l.includes("Redis rate limiter unavailable: falling back"))).toBe(true)
    await tia.close()
  })

  it("catches sockets up from the store when a subscription drops while others still publish", async () => {
    const viaA = client(servers[0]!.url, tenant.apiKey).as("uli")
    const room = (await viaA.post("/rooms", { type: "group", members: ["val"] })).body.room_id as string
    const val = await connectWs(servers[1]!.url, { headers: { "x-api-key": tenant.apiKey, "x-user-id": "val" } })
    // Val stays online, so no queue entry and no retry: only the resubscription's catch-up can repair a lost event.
    for (const round of range(1, 3)) {
      await redis!.command("CLIENT", "KILL", "TYPE", "pubsub")
      expect((await viaA.post(`/rooms/${room}/messages`, { content: `m${round}` })).status).toBe(201)
      await val.waitFor(isMessage(room), round, 5_000)
    }
    expect(val.frames.filter(isMessage(room)).map((f) => f.seq)).toEqual(range(1, 3))
    await val.close()
  })

  it("loses nothing when Redis stops for a few seconds while both instances take sends, and says so in /health and /metrics", async () => {
    const room = (await cluster.api(0).as("ola").post("/rooms", { type: "group", members: ["pat", "qui"] })).body.room_id as string
    const onA = await cluster.ws(0, "pat")
    const onB = await cluster.ws(1, "qui")
    const droppedBefore = await Promise.all(servers.map((s) => metric(s, "chatapi_bus_events_dropped_total", { reason: "redis_unavailable" })))
    const acknowledged = new Map<string, number>()
    let done = false
    const traffic = [0, 1].map(async (i) => {
      for (let n = 0; !done; n++) {
        const res = await cluster.api(i).as(i === 0 ? "ola" : "qui").post(`/rooms/${room}/messages`, { content: `${i}-${n}` })
        expect(res.status, "a send never fails on Redis").toBe(201)
        acknowledged.set(res.body.message_id, res.body.seq)
        await sleep(20)
      }
    })
    let during: Awaited<ReturnType<typeof health>> | undefined
    const outage = (async () => {
      expect(await eventually(async () => acknowledged.size >= 20, 10_000)).toBe(true)
      await redis!.stop()
      const sentBefore = acknowledged.size
      await sleep(1_000)
      during = await health(servers[0]!)
      await sleep(2_000)
      expect(acknowledged.size, "sends went on during the outage").toBeGreaterThan(sentBefore)
      await redis!.start()
      await logged(servers[1]!, "Redis bus available again", 15_000)
      await sleep(1_000)
      done = true
    })()
    await Promise.all([...traffic, outage])

    const history = await fullHistory(cluster.api(0), "pat", room)
    expect(history.map((m) => m.seq)).toEqual(range(1, history.length))
    expect(history.length).toBe(acknowledged.size)
    for (const socket of [onA, onB]) {
      await socket.waitFor(isMessage(room), history.length, 15_000)
      await sleep(200)
      expect(socket.frames.filter(isMessage(room)).map((f) => f.message_id), "each once, in order").toEqual(history.map((m) => m.message_id))
    }

    expect(during, "Redis down: degraded, still 200").toEqual({ status: 200, body: expect.objectContaining({ status: "degraded", redis: "down", db_writable: true }) })
    expect(await eventually(async () => (await health(servers[0]!)).body.redis === "up", 5_000)).toBe(true)
    expect((await health(servers[0]!)).body).toMatchObject({ status: "ok", redis: "up" })
    for (const [i, server] of servers.entries()) {
      expect(await metric(server, "chatapi_bus_events_dropped_total", { reason: "redis_unavailable" }), "events not published").toBeGreaterThan(droppedBefore[i]!)
      expect(await metric(server, "chatapi_redis_reconnects_total", { connection: "commands" })).toBeGreaterThanOrEqual(1)
      expect(await metric(server, "chatapi_redis_reconnects_total", { connection: "subscriber" })).toBeGreaterThanOrEqual(1)
      expect(await metric(server, "chatapi_redis_connected", { connection: "commands" })).toBe(1)
    }
    await Promise.all([onA.close(), onB.close()])
  }, 60_000)

  it("still tells offline for a user whose instance was killed while they were on it", async () => {
    const viaB = client(servers[1]!.url, tenant.apiKey).as("obs")
    await viaB.post("/rooms", { type: "group", members: ["wes"] })
    const obs = await connectWs(servers[1]!.url, { headers: { "x-api-key": tenant.apiKey, "x-user-id": "obs" } })
    const wes = await connectWs(servers[0]!.url, { headers: { "x-api-key": tenant.apiKey, "x-user-id": "wes" } })
    const ofWes = (f: Frame) => f.type === "presence.update" && f.user_id === "wes"
    await obs.waitFor(ofWes, 1, 5_000)

    await servers[0]!.stop("SIGKILL")
    await wes.closed
    const back = await connectWs(servers[1]!.url, { headers: { "x-api-key": tenant.apiKey, "x-user-id": "wes" } })
    await sleep(500)
    await back.close()
    // A's lease runs out (10 s) and B, which saw wes last, tells it.
    await obs.waitFor((f) => ofWes(f) && f.status === "offline", 1, 25_000)
    expect(obs.frames.filter(ofWes).map((f) => f.status)).toEqual(["online", "offline"])
    await obs.close()
  }, 40_000)
})
