import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type RunningServer, startServer } from "../support/server.js"
import { expectError, sleep } from "./_helpers.js"
import { deadLetters, freshTenant, group, isNotification, ISO, notificationIds, notify, notifyOk, send, type Tenant, until, wsAs } from "./_notify.js"

const UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"

describe("notifications relay and topic subscriptions", () => {
  let server: RunningServer
  beforeAll(async () => {
    server = await startServer({ env: { WORKER_INTERVAL: "100ms", RETRY_INTERVAL: "200ms" } })
  })
  afterAll(async () => {
    await server?.stop()
  })
  const tenant = (config: Record<string, unknown> = {}) => freshTenant(server.url, config)
  const ws = (t: Tenant, user: string) => wsAs(server.url, t, user)

  it("manages the caller's subscriptions: 201 then 200, sorted list, 204 then 404, topic validation, per tenant", async () => {
    const a = await tenant()
    const b = await tenant()
    const first = await a.api.as("sam").post("/subscriptions", { topic: "news.sports" })
    expect(first.status).toBe(201)
    expect(first.body).toEqual({ topic: "news.sports", created_at: expect.any(String) })
    expect(Number.isNaN(Date.parse(first.body.created_at))).toBe(false)
    await sleep(20)
    const again = await a.api.as("sam").post("/subscriptions", { topic: "news.sports" })
    expect(again.status).toBe(200)
    expect(again.body).toEqual(first.body)
    for (const topic of ["b-1", "alerts:x", "t".repeat(128), "x_y.z"]) {
      expect((await a.api.as("sam").post("/subscriptions", { topic })).status).toBe(201)
    }
    expect((await a.api.as("other").post("/subscriptions", { topic: "zzz" })).status).toBe(201)

    const list = await a.api.as("sam").get("/subscriptions")
    expect(list.status).toBe(200)
    expect(list.body.subscriptions.map((s: any) => s.topic)).toEqual(["alerts:x", "b-1", "news.sports", "t".repeat(128), "x_y.z"])
    expect(list.body.subscriptions.every((s: any) => typeof s.created_at === "string")).toBe(true)

    for (const topic of ["", "t".repeat(129), "has space", "a/b", ".lead", "-lead", 42, null]) {
      expectError(await a.api.as("sam").post("/subscriptions", { topic }), 400, "VALIDATION_ERROR", "topic")
    }
    expectError(await a.api.as("sam").post("/subscriptions", {}), 400, "VALIDATION_ERROR")

    expect((await a.api.as("sam").del("/subscriptions/news.sports")).status).toBe(204)
    expectError(await a.api.as("sam").del("/subscriptions/news.sports"), 404, "NOT_FOUND")
    expectError(await a.api.as("sam").del("/subscriptions/never"), 404, "NOT_FOUND")
    expect((await a.api.as("sam").get("/subscriptions")).body.subscriptions.map((s: any) => s.topic)).toEqual(["alerts:x", "b-1", "t".repeat(128), "x_y.z"])

    // Tenant B's "sam" is somebody else.
    expect((await b.api.as("sam").get("/subscriptions")).body).toEqual({ subscriptions: [] })
    expectError(await b.api.as("sam").del("/subscriptions/b-1"), 404, "NOT_FOUND")
    expect((await a.api.as("sam").get("/subscriptions")).body.subscriptions).toHaveLength(4)
  })

  it("validates POST /notify and never answers 5xx", async () => {
    const a = await tenant()
    const b = await tenant()
    const roomB = await group(b, "ann", ["bob"])
    const ok = { topic: "ok.topic", payload: { x: 1 }, targets: { user_ids: ["u1"] } }
    const bad = async (body: unknown, status: number, code: string, field?: string) => expectError(await notify(a, body), status, code, field)

    await bad({ topic: "t", payload: 1 }, 400, "VALIDATION_ERROR", "targets")
    await bad({ ...ok, targets: {} }, 400, "VALIDATION_ERROR", "targets")
    await bad({ ...ok, targets: { user_ids: [] } }, 400, "VALIDATION_ERROR", "targets")
    await bad({ ...ok, targets: { topic_subscribers: false } }, 400, "VALIDATION_ERROR", "targets")
    for (const topic of ["", "t".repeat(129), "a b", "a/b", ".x"]) await bad({ ...ok, topic }, 400, "VALIDATION_ERROR", "topic")
    await bad({ ...ok, payload: "p".repeat(16_383) }, 413, "PAYLOAD_TOO_LARGE", "payload")
    await bad({ ...ok, payload: { big: "p".repeat(20_000) } }, 413, "PAYLOAD_TOO_LARGE", "payload")
    expect((await notify(a, { ...ok, payload: "p".repeat(16_382) })).status, "16384 bytes of JSON text is allowed").toBe(202)
    await bad({ ...ok, targets: { room_id: UNKNOWN_ID } }, 404, "NOT_FOUND")
    await bad({ ...ok, targets: { room_id: roomB } }, 404, "NOT_FOUND")
    await bad({ ...ok, targets: { user_ids: ["u1"], room_id: roomB } }, 404, "NOT_FOUND")
    for (const id of ["", "has space", "x".repeat(129), "a/b", 7]) await bad({ ...ok, targets: { user_ids: [id] } }, 400, "VALIDATION_ERROR")
    await bad({ ...ok, targets: { user_ids: Array.from({ length: 1001 }, (_, i) => `u${i}`) } }, 400, "VALIDATION_ERROR")
    await bad({ ...ok, targets: { user_ids: "u1" } }, 400, "VALIDATION_ERROR")
    expectError(await a.api.request("POST", "/notify", { raw: "{not json", headers: { "content-type": "application/json" } }), 400, "VALIDATION_ERROR")

    const noKey = await fetch(`${server.url}/notify`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(ok) })
    expect(noKey.status).toBe(401)
    expect(((await noKey.json()) as any).error.code).toBe("AUTHENTICATION_ERROR")
    const badKey = await fetch(`${server.url}/notify`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-api-key": "sk_not_a_key" },
      body: JSON.stringify(ok)
    })
    expect(badKey.status).toBe(401)
  })

  it("pushes a notification frame at once to a connected recipient", async () => {
    const a = await tenant()
    const on = await ws(a, "online-1")
    const payload = { a: 1, nested: { list: [1, "two", null, true, { deep: [] }], obj: { s: "héllo ✓" } }, f: 1.5 }
    const res = await notifyOk(a, { topic: "t.online", payload, targets: { user_ids: ["online-1"] } })
    expect(res).toMatchObject({ notification_id: expect.any(String), topic: "t.online", created_at: expect.any(String), recipients: 1 })
    const [frame] = await on.waitFor(isNotification(res.notification_id))
    expect(frame).toMatchObject({ type: "notification", notification_id: res.notification_id, topic: "t.online" })
    expect(frame!.payload).toEqual(payload)
    expect(frame!.created_at).toMatch(ISO)
    expect(Date.parse(frame!.created_at)).toBe(Date.parse(res.created_at))

    for (const other of [[1, "x", false], "just text", 42]) {
      const n = await notifyOk(a, { topic: "t.online", payload: other, targets: { user_ids: ["online-1"] } })
      const [f] = await on.waitFor(isNotification(n.notification_id))
      expect(f!.payload).toEqual(other)
    }
    await on.close()
  })

  it("delivers to an offline recipient on connect, after the sync of missed room messages", async () => {
    const a = await tenant()
    const room = await group(a, "writer", ["late"])
    const sent = [await send(a, "writer", room, "m1"), await send(a, "writer", room, "m2"), await send(a, "writer", room, "m3")]
    const n = await notifyOk(a, { topic: "t.offline", payload: { n: 1 }, targets: { user_ids: ["late"] } })
    expect(n.recipients).toBe(1)
    await sleep(300)

    const late = await ws(a, "late")
    const [frame] = await late.waitFor(isNotification(n.notification_id))
    expect(frame).toMatchObject({ topic: "t.offline", payload: { n: 1 } })
    const firstNotification = late.frames.findIndex(isNotification(n.notification_id))
    for (const m of sent) {
      const index = late.frames.findIndex((f) => f.type === "message" && f.message_id === m.message_id)
      expect(index, `message ${m.seq} synced`).toBeGreaterThanOrEqual(0)
      expect(index, `message ${m.seq} comes before the notification`).toBeLessThan(firstNotification)
    }
    await late.close()
  })

  it("resolves targets to user_ids ∪ room members ∪ topic subscribers, once, at notify time", async () => {
    const a = await tenant()
    const room = await group(a, "u2", ["u3", "u4"])
    for (const user of ["u4", "u5"]) expect((await a.api.as(user).post("/subscriptions", { topic: "deals" })).status).toBe(201)
    expect((await a.api.as("u8").post("/subscriptions", { topic: "other" })).status).toBe(201)
    const users = ["u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8"]
    const sockets = Object.fromEntries(await Promise.all(users.map(async (u) => [u, await ws(a, u)] as const)))

    const n = await notifyOk(a, { topic: "deals", payload: { off: 10 }, targets: { user_ids: ["u1", "u2"], room_id: room, topic_subscribers: true } })
    expect(n.recipients).toBe(5)
    expect((await a.api.as("u7").post("/subscriptions", { topic: "deals" })).status).toBe(201)
    for (const u of ["u1", "u2", "u3", "u4", "u5"]) await sockets[u]!.waitFor(isNotification(n.notification_id))
    await sleep(500)
    for (const u of ["u6", "u7", "u8"]) {
      expect(sockets[u]!.frames.filter(isNotification()), `${u} is not a recipient`).toEqual([])
      expect((await a.api.as(u).get("/notifications")).body.notifications).toEqual([])
    }
    const later = await notifyOk(a, { topic: "deals", payload: 2, targets: { topic_subscribers: true } })
    expect(later.recipients, "u4, u5 and now u7").toBe(3)
    await sockets.u7!.waitFor(isNotification(later.notification_id))
    await Promise.all(Object.values(sockets).map((s) => s.close()))
  })

  it("never redelivers an acked notification (WS ack, REST ack), and lists only the unacked", async () => {
    const a = await tenant()
    const b = await tenant()
    const ids: Array<string> = []
    for (const i of [1, 2, 3]) ids.push((await notifyOk(a, { topic: "t.ack", payload: { i }, targets: { user_ids: ["acker"] } })).notification_id)
    const [n1, n2, n3] = ids as [string, string, string]

    const first = await ws(a, "acker")
    for (const id of ids) await first.waitFor(isNotification(id))
    first.send({ type: "ack", notification_id: n1 })
    first.send({ type: "ack", notification_id: UNKNOWN_ID, request_id: "bad-ack" })
    first.send({ type: "ping", request_id: "after-acks" })
    await first.waitFor((f) => f.type === "pong" && f.request_id === "after-acks")
    const [err] = await first.waitFor((f) => f.type === "error" && f.request_id === "bad-ack")
    expect(err!.code).toBe("NOT_FOUND")
    expect(first.frames.some((f) => f.type === "error" && f.request_id !== "bad-ack"), "the good ack has no error reply").toBe(false)

    const acked = await a.api.as("acker").post(`/notifications/${n2}/ack`)
    expect(acked.status).toBe(200)
    expect(acked.body).toMatchObject({ notification_id: n2, acked_at: expect.any(String) })
    expect((await a.api.as("acker").post(`/notifications/${n2}/ack`)).status, "a repeated ack is fine").toBe(200)
    expect((await a.api.as("acker").post(`/notifications/${n1}/ack`)).status, "already acked over WS").toBe(200)
    expectError(await a.api.as("acker").post(`/notifications/${UNKNOWN_ID}/ack`), 404, "NOT_FOUND")
    expectError(await a.api.as("stranger").post(`/notifications/${n3}/ack`), 404, "NOT_FOUND")
    expectError(await b.api.as("acker").post(`/notifications/${n3}/ack`), 404, "NOT_FOUND")
    await first.close()

    const second = await ws(a, "acker")
    await second.waitFor(isNotification(n3))
    await sleep(400)
    expect(notificationIds(second.frames), "only the unacked one comes again").toEqual([n3])
    const list = await a.api.as("acker").get("/notifications")
    expect(list.status).toBe(200)
    expect(list.body.notifications.map((x: any) => x.notification_id)).toEqual([n3])
    expect(list.body.notifications[0]).toMatchObject({ topic: "t.ack", payload: { i: 3 }, created_at: expect.any(String) })
    expect((await a.api.as("acker").get("/notifications?limit=1")).body.notifications).toHaveLength(1)
    expectError(await a.api.as("acker").get("/notifications?limit=0"), 400, "VALIDATION_ERROR")
    expectError(await a.api.as("acker").get("/notifications?limit=101"), 400, "VALIDATION_ERROR")
    await second.close()
  })

  it("retries an unacked notification to a connected recipient, then dead-letters it", async () => {
    const a = await tenant({ retry_max_attempts: 3 })
    const slow = await ws(a, "never-acks")
    const n = await notifyOk(a, { topic: "t.retry", payload: { r: true }, targets: { user_ids: ["never-acks"] } })
    const copies = await slow.waitFor(isNotification(n.notification_id), 2, 15_000)
    expect(copies[1]).toMatchObject({ notification_id: n.notification_id, topic: "t.retry", payload: { r: true } })

    const dead = await until(
      () => deadLetters(server.url, { tenant_id: a.tenantId, kind: "notification" }),
      (d) => d.some((x) => x.notification_id === n.notification_id),
      20_000,
      "the notification dead letter"
    )
    expect(dead.filter((x) => x.notification_id === n.notification_id)).toEqual([
      expect.objectContaining({ kind: "notification", tenant_id: a.tenantId, notification_id: n.notification_id, user_id: "never-acks", topic: "t.retry" })
    ])
    expect(dead.every((x) => x.kind === "notification"), "the kind filter holds").toBe(true)
    expect((await a.api.as("never-acks").get("/notifications")).body.notifications, "dead ones are not listed").toEqual([])
    const count = slow.frames.filter(isNotification(n.notification_id)).length
    expect(count).toBeLessThanOrEqual(4)
    await sleep(1000)
    expect(slow.frames.filter(isNotification(n.notification_id)).length, "retries stop once dead").toBe(count)
    await slow.close()
  })

  it("keeps tenants apart: same user ids, separate subscribers, no cross-tenant ack", async () => {
    const a = await tenant()
    const b = await tenant()
    expect((await a.api.as("bob").post("/subscriptions", { topic: "news" })).status).toBe(201)
    expect((await b.api.as("carol").post("/subscriptions", { topic: "news" })).status).toBe(201)
    const aAlice = await ws(a, "alice")
    const aBob = await ws(a, "bob")
    const bAlice = await ws(b, "alice")
    const bCarol = await ws(b, "carol")

    const direct = await notifyOk(b, { topic: "news", payload: "for b", targets: { user_ids: ["alice", "bob"] } })
    expect(direct.recipients).toBe(2)
    await bAlice.waitFor(isNotification(direct.notification_id))
    const topical = await notifyOk(b, { topic: "news", payload: "subs", targets: { topic_subscribers: true } })
    expect(topical.recipients, "only B's subscriber").toBe(1)
    await bCarol.waitFor(isNotification(topical.notification_id))
    const fromA = await notifyOk(a, { topic: "news", payload: "for a", targets: { user_ids: ["alice"] } })
    await aAlice.waitFor(isNotification(fromA.notification_id))
    await sleep(500)
    expect(notificationIds(aAlice.frames), "A's alice gets only A's notification").toEqual([fromA.notification_id])
    expect(notificationIds(aBob.frames), "A's bob gets nothing from B").toEqual([])
    expect(notificationIds(bAlice.frames)).toEqual([direct.notification_id])
    expect((await a.api.as("bob").get("/notifications")).body.notifications).toEqual([])

    expectError(await b.api.as("alice").post(`/notifications/${fromA.notification_id}/ack`), 404, "NOT_FOUND")
    bAlice.send({ type: "ack", notification_id: fromA.notification_id, request_id: "cross" })
    const [err] = await bAlice.waitFor((f) => f.type === "error" && f.request_id === "cross")
    expect(err!.code).toBe("NOT_FOUND")
    expect((await a.api.as("alice").get("/notifications")).body.notifications.map((x: any) => x.notification_id)).toEqual([fromA.notification_id])
    await Promise.all([aAlice, aBob, bAlice, bCarol].map((s) => s.close()))
  })
})
