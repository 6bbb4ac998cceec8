import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { deleteKeys, type OwnRedis, ownRedis, redisGate, testPrefix } from "../support/redis.js"
import { client, createTenant, type RunningServer, startServer, tempDir } from "../support/server.js"
import { connectWs, type Frame } from "../support/ws.js"
import { FAST, range, sleep } from "./_helpers.js"

const gate = await redisGate()
const isMessage = (roomId: string) => (f: Frame) => f.type === "message" && f.room_id === roomId

const logged = async (server: RunningServer, text: string, timeoutMs = 10_000) => {
  const deadline = Date.now() + timeoutMs
  while (!server.logs.some((l) => l.includes(text))) {
    if (Date.now() > deadline) throw new Error(`no log line with ${JSON.stringify(text)} within ${timeoutMs} ms`)
    await sleep(50)
  }
}

describe.skipIf(gate.skip)("Redis outages and a killed instance, under two instances", () => {
  const prefix = testPrefix()
  let redis: OwnRedis | undefined
  let servers: Array<RunningServer> = []
  let tenant: Awaited<ReturnType<typeof createTenant>>

  beforeAll(async () => {
    if (gate.failure !== undefined) throw new Error(gate.failure)
    // A redis-server of this test's own: the machine's shared one is never stopped.
    redis = await ownRedis()
    const dataDir = tempDir()
    const env = { REDIS_URL: redis.url, REDIS_PREFIX: prefix, WORKER_INTERVAL: "200ms", RETRY_INTERVAL: "1s", PRESENCE_GRACE: "1s" }
    for (let i = 0; i < 2; i++) servers.push(await startServer({ dataDir, env }))
    tenant = await createTenant(servers[0]!.url, "outage", FAST)
  })
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()))
    servers = []
    if (redis !== undefined) {
      await redis.start().catch(() => undefined)
      await deleteKeys(prefix, redis.url).catch(() => undefined)
      await redis.stop()
    }
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
