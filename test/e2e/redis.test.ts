import { ConfigProvider, Effect, Layer } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { memoryBuckets, RateLimiter } from "../../src/services/RateLimiter.js"
import { type Cluster, metric, startCluster } from "../support/cluster.js"
import { closeAllReceivers, startReceiver, type WebhookCall } from "../support/receiver.js"
import { deleteKeys, keysUnder, REDIS_URL, redisGate, testPrefix } from "../support/redis.js"
import { client, createTenant, type RunningServer } from "../support/server.js"
import { connectWs, type Frame } from "../support/ws.js"
import { FAST, isMessage, range, sleep } from "./_helpers.js"

const gate = await redisGate()
const presenceOf = (userId: string) => (f: Frame) => f.type === "presence.update" && f.user_id === userId

/** Messages a server wrote to sockets as they happened (not by sync or retry). */
const liveDeliveries = (server: RunningServer) => metric(server, "chatapi_deliveries_total", { path: "live", kind: "message" })

describe.skipIf(gate.skip)("three instances on one store and one Redis", () => {
  let cluster: Cluster
  let servers: Array<RunningServer> = []
  let prefix: string
  const api = (i: number) => cluster.api(i)
  const ws = (i: number, user: string) => cluster.ws(i, user)

  beforeAll(async () => {
    if (gate.failure !== undefined) throw new Error(gate.failure)
    cluster = await startCluster(3, {
      env: { PRESENCE_GRACE: "1s", WORKER_INTERVAL: "200ms", WEBHOOK_ALLOW_PRIVATE: "true" },
      tenantConfig: FAST
    })
    servers = cluster.servers
    prefix = cluster.prefix
  })
  afterAll(async () => {
    await closeAllReceivers()
    await cluster?.stop()
  })

  it("delivers a message sent through A to a socket on B", async () => {
    const room = (await api(0).as("ann").post("/rooms", { type: "group", members: ["bob"] })).body.room_id as string
    const bob = await ws(1, "bob")
    const before = await liveDeliveries(servers[1]!)
    const sent = await api(0).as("ann").post(`/rooms/${room}/messages`, { content: "hello from A" })
    expect(sent.status).toBe(201)
    const [frame] = await bob.waitFor(isMessage(room), 1, 5_000)
    expect(frame).toMatchObject({ seq: 1, sender_id: "ann", content: "hello from A", message_id: sent.body.message_id })
    expect(await liveDeliveries(servers[1]!) - before, "pushed live by B, not caught up by a retry").toBe(1)
    await bob.close()
  })

  it("delivers 100 messages sent through A and B to a client on C in seq order with no gap", async () => {
    const room = (await api(0).as("sue").post("/rooms", { type: "group", members: ["tom", "cal"] })).body.room_id as string
    const cal = await ws(2, "cal")
    const sue = await ws(0, "sue")
    const sent = await Promise.all(range(1, 100).map((i) =>
      i % 2 === 0
        ? api(0).as("sue").post(`/rooms/${room}/messages`, { content: `a${i}` })
        : api(1).as("tom").post(`/rooms/${room}/messages`, { content: `b${i}` })
    ))
    expect(sent.map((r) => r.status)).toEqual(range(1, 100).map(() => 201))
    expect(sent.map((r) => r.body.seq).sort((x, y) => x - y)).toEqual(range(1, 100))
    await cal.waitFor(isMessage(room), 100, 20_000)
    expect(cal.frames.filter(isMessage(room)).map((f) => f.seq)).toEqual(range(1, 100))
    // The sender's own instance hears its events once: locally, never again as the Redis echo.
    await sue.waitFor(isMessage(room), 100, 20_000)
    await sleep(300)
    expect(sue.frames.filter(isMessage(room)).map((f) => f.seq)).toEqual(range(1, 100))
    await Promise.all([cal.close(), sue.close()])
  })

  it("crosses instances with presence (no flap on a reconnect elsewhere) and typing", async () => {
    const room = (await api(0).as("pia").post("/rooms", { type: "group", members: ["quinn", "rex"] })).body.room_id as string
    const pia = await ws(0, "pia")
    const rex = await ws(1, "rex")
    const quinn = await ws(1, "quinn")
    expect((await pia.waitFor(presenceOf("quinn"), 1, 5_000))[0]).toMatchObject({ status: "online" })

    quinn.send({ type: "typing.start", room_id: room })
    expect((await pia.waitFor((f) => f.type === "typing", 1, 5_000))[0]).toEqual({ type: "typing", room_id: room, user_id: "quinn", action: "start" })
    quinn.send({ type: "typing.stop", room_id: room })
    await pia.waitFor((f) => f.type === "typing" && f.action === "stop", 1, 5_000)
    await rex.waitFor((f) => f.type === "typing" && f.action === "stop", 1, 5_000)
    expect(pia.frames.filter((f) => f.type === "typing").map((f) => f.action), "once each on another instance").toEqual(["start", "stop"])
    expect(rex.frames.filter((f) => f.type === "typing").map((f) => f.action), "once each on the same instance").toEqual(["start", "stop"])

    // Quinn moves from B to C within the grace period: nobody sees them go offline or come online again.
    await quinn.close()
    const again = await ws(2, "quinn")
    await sleep(2_500)
    expect(pia.frames.filter(presenceOf("quinn")).map((f) => f.status)).toEqual(["online"])

    // Gone from everywhere: offline once the grace period is over.
    await again.close()
    await pia.waitFor((f) => presenceOf("quinn")(f) && f.status === "offline", 1, 5_000)
    expect(pia.frames.filter(presenceOf("quinn")).map((f) => f.status)).toEqual(["online", "offline"])
    await Promise.all([pia.close(), rex.close()])
  })

  it("counts a user connected to another instance as online for notifications and the delivery worker", async () => {
    const receiver = await startReceiver()
    const hooked = await createTenant(servers[0]!.url, "hooked", { ...FAST, webhook_url: receiver.url, webhook_secret: receiver.secret })
    const here = await connectWs(servers[2]!.url, { headers: { "x-api-key": hooked.apiKey, "x-user-id": "here" } })
    const viaA = client(servers[0]!.url, hooked.apiKey)

    const n = await viaA.request("POST", "/notify", { body: { topic: "news", payload: { n: 1 }, targets: { user_ids: ["here", "away"] } } })
    expect(n.status).toBe(202)
    expect((await here.waitFor((f) => f.type === "notification", 1, 5_000))[0]).toMatchObject({ topic: "news", payload: { n: 1 } })
    const [offline] = await receiver.waitFor((c) => c.json?.type === "notification.offline", 1, 10_000)
    expect(offline!.json.data.user_ids).toEqual(["away"])

    const room = (await viaA.as("sender").post("/rooms", { type: "group", members: ["here", "away"] })).body.room_id as string
    expect((await viaA.as("sender").post(`/rooms/${room}/messages`, { content: "m" })).status).toBe(201)
    await here.waitFor(isMessage(room), 1, 5_000)
    const forRoom = (c: WebhookCall) => c.json?.type === "message.offline" && c.json.data.room_id === room
    await receiver.waitFor(forRoom, 1, 10_000)
    await sleep(1_000)
    expect(new Set(receiver.calls.filter(forRoom).map((c) => c.json.data.user_id))).toEqual(new Set(["away"]))

    // Each live instance holds a lease and a hash of the users connected to it.
    const keys = await keysUnder(prefix)
    expect(keys).toContain(`${prefix}instances`)
    expect(keys.filter((k) => k.startsWith(`${prefix}users:`)).length).toBeGreaterThanOrEqual(1)
    await here.close()
  })

  it("shares one rate limit bucket across instances", async () => {
    const limited = await createTenant(servers[0]!.url, "limited", { rate_limit_per_sec: 1, burst: 5 })
    const apis = [client(servers[0]!.url, limited.apiKey), client(servers[1]!.url, limited.apiKey)]
    const results = await Promise.all(range(1, 8).map((i) => apis[i % 2]!.as("rae").get("/rooms")))
    const ok = results.filter((r) => r.status === 200)
    expect(ok.length).toBe(5)
    expect(results.filter((r) => r.status === 429).length).toBe(3)
    expect(new Set(ok.map((r) => r.headers.get("x-ratelimit-limit")))).toEqual(new Set(["5"]))
    expect(ok.map((r) => Number(r.headers.get("x-ratelimit-remaining"))).sort()).toEqual([0, 1, 2, 3, 4])
    for (const r of results.filter((r) => r.status === 429)) expect(Number(r.headers.get("retry-after"))).toBeGreaterThanOrEqual(1)
  })
})

describe.skipIf(gate.skip)("the shared rate limit bucket", () => {
  const prefix = testPrefix()
  afterAll(async () => {
    if (gate.failure === undefined) await deleteKeys(prefix)
  })

  it("decides exactly as the in-process bucket does", async () => {
    if (gate.failure !== undefined) throw new Error(gate.failure)
    const config = Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["REDIS_URL", REDIS_URL], ["REDIS_PREFIX", prefix], ["LOG_LEVEL", "warn"]])))
    const shape = (d: { allowed: boolean; limit: number; remaining: number; resetSeconds: number; retryAfterSeconds: number }) =>
      [d.allowed, d.limit, d.remaining, d.resetSeconds, d.retryAfterSeconds]
    const [shared, local] = await Effect.runPromise(Effect.gen(function*() {
      const limiter = yield* RateLimiter
      const memory = memoryBuckets()
      const run = (take: typeof limiter.take) =>
        Effect.gen(function*() {
          const burst = yield* Effect.forEach(range(1, 4), () => take("t", 2, 3))
          yield* Effect.sleep("600 millis")
          const refilled = yield* Effect.forEach(range(1, 2), () => take("t", 2, 3))
          const other = yield* take("other", 2, 3, 2)
          return [...burst, ...refilled, other].map(shape)
        })
      return yield* Effect.all([run(limiter.take), run(memory.take)], { concurrency: 2 })
    }).pipe(Effect.provide(RateLimiter.Default), Effect.provide(config), Effect.scoped))
    expect(shared).toEqual(local)
    expect(shared.slice(0, 4)).toEqual([[true, 3, 2, 1, 0], [true, 3, 1, 1, 0], [true, 3, 0, 2, 0], [false, 3, 0, 2, 1]])
  })
})
