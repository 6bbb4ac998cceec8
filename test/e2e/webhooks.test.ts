import * as crypto from "node:crypto"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { closeAllReceivers, type Receiver, type ReceiverMode, startReceiver, verifySignature, type WebhookCall } from "../support/receiver.js"
import { type RunningServer, startServer } from "../support/server.js"
import { expectError, sleep } from "./_helpers.js"
import { admin, attempt, deadLetters, deliveryId, freshTenant, group, isNotification, ISO, notifyOk, ofEvent, percentile, send, type Tenant, until, wsAs } from "./_notify.js"

const ENV = { WORKER_INTERVAL: "100ms", RETRY_INTERVAL: "800ms", WEBHOOK_ALLOW_PRIVATE: "true", WEBHOOK_TIMEOUT: "1s" }
const forNotification = (id: string) => ofEvent("notification.offline", (d) => d.notification_id === id)
const sumCount = (calls: Array<WebhookCall>) => calls.reduce((sum, c) => sum + c.json.data.count, 0)

describe("signed tenant webhooks, retries and dead letters", () => {
  let server: RunningServer
  const receiver = (mode: ReceiverMode = "succeed") => startReceiver({ mode })
  beforeAll(async () => {
    server = await startServer({ env: ENV })
  })
  afterAll(async () => {
    await closeAllReceivers()
    await server?.stop()
  })

  it("sends one signed notification.offline event naming exactly the offline recipients", async () => {
    const r = await receiver()
    const t = await freshTenant(server.url, {}, r)
    const here = await wsAs(server.url, t, "here")
    const n = await notifyOk(t, { topic: "t.hook", payload: { p: [1, { q: "r" }] }, targets: { user_ids: ["here", "away"] } })
    expect(n.recipients).toBe(2)
    await here.waitFor(isNotification(n.notification_id))
    const [call] = await r.waitFor(forNotification(n.notification_id))
    const now = Date.now() / 1000
    expect([call!.verified, call!.method, call!.path], "signed, POST to the configured URL").toEqual([true, "POST", "/hook"])
    expect(call!.headers).toMatchObject({
      "content-type": expect.stringMatching(/^application\/json/),
      "x-chatapi-event": "notification.offline",
      "x-chatapi-delivery": call!.json.id,
      "x-chatapi-attempt": "1",
      "x-chatapi-timestamp": expect.stringMatching(/^\d+$/)
    })
    expect(Math.abs(Number(call!.headers["x-chatapi-timestamp"]) - now), "timestamp within a minute").toBeLessThan(60)
    expect(call!.json).toEqual({
      ...{ id: expect.any(String), type: "notification.offline", created_at: expect.stringMatching(ISO), tenant_id: t.tenantId },
      data: { notification_id: n.notification_id, topic: "t.hook", payload: { p: [1, { q: "r" }] }, user_ids: ["away"] }
    })
    expect(verifySignature(r.secret, call!.headers, call!.body + " "), "a changed body does not verify").toBe(false)
    expect(verifySignature("some-other-secret-value", call!.headers, call!.body)).toBe(false)

    const allOnline = await notifyOk(t, { topic: "t.hook", payload: 1, targets: { user_ids: ["here"] } })
    await here.waitFor(isNotification(allOnline.notification_id))
    await sleep(600)
    expect(r.calls.filter(forNotification(allOnline.notification_id)), "nobody offline, no event").toEqual([])
    expect(r.calls.filter(forNotification(n.notification_id)), "one event per notification").toHaveLength(1)
    await here.close()
  })

  it("sends message.offline to the offline member only, covering every message from others", async () => {
    const r = await receiver()
    const t = await freshTenant(server.url, {}, r)
    const room = await group(t, "sender", ["watcher", "away"])
    const watcher = await wsAs(server.url, t, "watcher")
    const sent = []
    for (const i of [1, 2, 3]) sent.push(await send(t, "sender", room, `m${i}`))
    await watcher.waitFor((f) => f.type === "message" && f.room_id === room, 3)
    const forAway = ofEvent("message.offline", (d) => d.room_id === room && d.user_id === "away")
    await until(() => r.calls.filter(forAway), (calls) => sumCount(calls) >= 3, 10_000, "message.offline covering 3 messages")
    await sleep(600)
    const events = r.calls.filter(forAway)
    expect(sumCount(events), "each message reported once").toBe(3)
    const listed = events.flatMap((c) => c.json.data.messages)
    expect(listed.map((m: any) => m.seq)).toEqual([1, 2, 3])
    expect(listed.map((m: any) => m.message_id)).toEqual(sent.map((m) => m.message_id))
    expect(listed.map((m: any) => [m.sender_id, m.content])).toEqual([["sender", "m1"], ["sender", "m2"], ["sender", "m3"]])
    for (const e of events) {
      expect(e.verified).toBe(true)
      expect(e.headers["x-chatapi-event"]).toBe("message.offline")
      const { first_seq, last_seq, count, messages } = e.json.data
      expect([first_seq, last_seq, count]).toEqual([messages[0].seq, messages[messages.length - 1].seq, messages.length])
      expect(messages.every((m: any) => ISO.test(m.created_at))).toBe(true)
    }
    const others = r.calls.filter(ofEvent("message.offline", (d) => d.room_id === room && d.user_id !== "away"))
    expect(others, "neither the connected member nor the sender get one").toEqual([])
    await watcher.close()
  })

  it("retries a failing call with exponential backoff under the same delivery id, and stops after success", async () => {
    const r = await receiver()
    r.failNext(2)
    const t = await freshTenant(server.url, { retry_max_attempts: 5 }, r)
    const n = await notifyOk(t, { topic: "t.retry", payload: { r: 1 }, targets: { user_ids: ["gone"] } })
    const calls = await r.waitFor(forNotification(n.notification_id), 3, 15_000)
    expect(calls.map(attempt)).toEqual(["1", "2", "3"])
    expect(calls.map((c) => c.status)).toEqual([500, 500, 200])
    expect(calls.every((c) => c.verified)).toBe(true)
    expect(new Set(calls.map(deliveryId)).size, "one delivery id across retries").toBe(1)
    expect(calls.every((c) => c.json.id === deliveryId(calls[0]!))).toBe(true)
    expect(calls[2]!.json.data).toEqual(calls[0]!.json.data)
    const gap1 = calls[1]!.at - calls[0]!.at
    const gap2 = calls[2]!.at - calls[1]!.at
    console.log(`webhook retry gaps: ${gap1} ms, ${gap2} ms (RETRY_INTERVAL 800ms: ~800 and ~1600 ±20%)`)
    expect(gap1, "a retry waits for the backoff").toBeGreaterThan(300)
    expect(gap2, "the backoff grows").toBeGreaterThan(gap1)
    await sleep(1500)
    expect(r.calls.filter(forNotification(n.notification_id)), "no call after success").toHaveLength(3)
  })

  /** Waits for `retry_max_attempts` (3) failed calls of a notification.offline event, then for its dead letter. */
  const deadWebhook = async (r: Receiver, t: Tenant, notificationId: string) => {
    const calls = await r.waitFor(forNotification(notificationId), 3, 15_000)
    const id = deliveryId(calls[0]!)
    const dead = await until(() => webhookDead(t), (d) => d.some((x) => x.delivery_id === id), 15_000, `dead letter of ${id}`)
    return { delivery: id, entry: dead.find((x) => x.delivery_id === id)! }
  }
  const webhookDead = (t: Tenant) => deadLetters(server.url, { tenant_id: t.tenantId, kind: "webhook" })

  it("dead-letters a delivery after the maximum attempts; replay by id delivers the same delivery id again", async () => {
    const r = await receiver("fail")
    const t = await freshTenant(server.url, { retry_max_attempts: 3 }, r)
    const n = await notifyOk(t, { topic: "t.dead", payload: "x", targets: { user_ids: ["nobody-home"] } })
    const { delivery, entry } = await deadWebhook(r, t, n.notification_id)
    expect(entry).toMatchObject({ kind: "webhook", tenant_id: t.tenantId, delivery_id: delivery, event: "notification.offline", attempts: 3 })
    expect(entry.id).toBeDefined()
    expect(entry.last_attempt_at).toMatch(ISO)
    await sleep(1200)
    expect(r.calls.filter(forNotification(n.notification_id)).map(attempt), "no attempt past the maximum").toEqual(["1", "2", "3"])

    r.succeed()
    const route = `/admin/dead-letters/${entry.id}/replay`
    expectError(await admin(server.url).post(`/admin/dead-letters/${crypto.randomUUID()}/replay`), 404, "NOT_FOUND")
    const replayed = await admin(server.url).post(route)
    expect({ status: replayed.status, body: replayed.body }, `POST ${route}`).toEqual({ status: 200, body: { replayed: 1 } })
    const again = (await r.waitFor(forNotification(n.notification_id), 4, 10_000))[3]!
    expect([deliveryId(again), attempt(again), again.status, again.verified]).toEqual([delivery, "1", 200, true])
    expect((await webhookDead(t)).some((x) => x.delivery_id === delivery), "gone from the dead letters").toBe(false)
    for (const key of [null, "wrong-key"]) expectError(await admin(server.url, key).post(route), 401, "AUTHENTICATION_ERROR")
  })

  it("replays every dead letter of a tenant, honours the kind filter, and needs the master key", async () => {
    const r = await receiver("fail")
    const t = await freshTenant(server.url, { retry_max_attempts: 3 }, r)
    const more = [
      await notifyOk(t, { topic: "t.dead", payload: 2, targets: { user_ids: ["away-2"] } }),
      await notifyOk(t, { topic: "t.dead", payload: 3, targets: { user_ids: ["away-3"] } })
    ]
    const deliveries = [await deadWebhook(r, t, more[0]!.notification_id), await deadWebhook(r, t, more[1]!.notification_id)]
    r.succeed()
    for (const res of [
      await admin(server.url, null).get("/admin/dead-letters"),
      await admin(server.url, null).post("/admin/dead-letters/replay", { tenant_id: t.tenantId })
    ]) expectError(res, 401, "AUTHENTICATION_ERROR")
    const wrongKind = await admin(server.url).post("/admin/dead-letters/replay", { tenant_id: t.tenantId, kind: "message" })
    expect(wrongKind.body, "the kind filter applies").toEqual({ replayed: 0 })
    expect(await webhookDead(t)).toHaveLength(2)
    const all = await admin(server.url).post("/admin/dead-letters/replay", { tenant_id: t.tenantId })
    expect({ status: all.status, body: all.body }).toEqual({ status: 200, body: { replayed: 2 } })
    for (const [i, m] of more.entries()) {
      const last = (await r.waitFor(forNotification(m.notification_id), 4, 10_000))[3]!
      expect([deliveryId(last), attempt(last), last.status, last.verified]).toEqual([deliveries[i]!.delivery, "1", 200, true])
    }
    expect(await webhookDead(t)).toEqual([])
  })

  it("fires delivery.dead_lettered when a notification or a message delivery is dead-lettered", async () => {
    const r = await receiver()
    const t = await freshTenant(server.url, { retry_max_attempts: 2 }, r)
    const ignorer = await wsAs(server.url, t, "ignorer")
    const n = await notifyOk(t, { topic: "t.dl", payload: {}, targets: { user_ids: ["ignorer"] } })
    await ignorer.waitFor(isNotification(n.notification_id))
    const room = await group(t, "poster", ["lagger"])
    await send(t, "poster", room, "never acked")
    await sleep(300)
    const lagger = await wsAs(server.url, t, "lagger")
    await lagger.waitFor((f) => f.type === "message" && f.room_id === room)

    const deadEvent = (kind: string, match: (d: any) => boolean) =>
      r.waitFor(ofEvent("delivery.dead_lettered", (d) => d.kind === kind && match(d)), 1, 20_000).then((c) => c[0]!)
    const forNote = await deadEvent("notification", (d) => d.notification_id === n.notification_id)
    expect(forNote.verified).toBe(true)
    expect(forNote.headers["x-chatapi-event"]).toBe("delivery.dead_lettered")
    expect(forNote.json).toMatchObject({ type: "delivery.dead_lettered", tenant_id: t.tenantId })
    expect(forNote.json.data).toMatchObject({ kind: "notification", notification_id: n.notification_id, user_id: "ignorer", attempts: expect.any(Number) })
    const noteDead = await deadLetters(server.url, { tenant_id: t.tenantId, kind: "notification" })
    expect(noteDead.map((d) => String(d.id))).toContain(String(forNote.json.data.dead_letter_id))

    const forMessage = await deadEvent("message", (d) => d.room_id === room)
    expect(forMessage.verified).toBe(true)
    expect(forMessage.json.data).toMatchObject({ kind: "message", user_id: "lagger", room_id: room, from_seq: 1 })
    const messageDead = await deadLetters(server.url, { tenant_id: t.tenantId, kind: "message" })
    expect(messageDead.map((d) => String(d.id))).toContain(String(forMessage.json.data.dead_letter_id))
    await Promise.all([ignorer.close(), lagger.close()])
  })

  it("keeps tenants apart: B's events never reach A's receiver", async () => {
    const ra = await receiver()
    const rb = await receiver()
    const a = await freshTenant(server.url, {}, ra)
    const b = await freshTenant(server.url)
    const patched = await admin(server.url).patch(`/admin/tenants/${b.tenantId}`, { config: { webhook_url: rb.url, webhook_secret: rb.secret } })
    expect(patched.status).toBe(200)
    expect(patched.body.config.webhook_url).toBe(rb.url)
    expect(patched.body.config.webhook_secret, "the secret is never shown").toBeUndefined()

    const na = await notifyOk(a, { topic: "iso", payload: "a", targets: { user_ids: ["same-user"] } })
    const nb = await notifyOk(b, { topic: "iso", payload: "b", targets: { user_ids: ["same-user"] } })
    const roomB = await group(b, "same-sender", ["same-user"])
    await send(b, "same-sender", roomB, "for b only")
    await rb.waitFor(forNotification(nb.notification_id))
    await rb.waitFor(ofEvent("message.offline", (d) => d.room_id === roomB && d.user_id === "same-user"))
    await ra.waitFor(forNotification(na.notification_id))
    await sleep(600)
    expect(ra.calls.every((c) => c.json?.tenant_id === a.tenantId && c.verified), "A's receiver sees only A, signed with A's secret").toBe(true)
    expect(rb.calls.every((c) => c.json?.tenant_id === b.tenantId && c.verified), "B's receiver sees only B, signed with B's secret").toBe(true)
    expect(ra.calls.filter((c) => c.body.includes(nb.notification_id) || c.body.includes(roomB))).toEqual([])
    expect(ra.calls.filter(ofEvent("message.offline"))).toEqual([])
  })
})

describe("a hanging webhook receiver", () => {
  let server: RunningServer
  let r: Receiver
  beforeAll(async () => {
    server = await startServer({ env: { ...ENV, WEBHOOK_TIMEOUT: "10s" } })
    r = await startReceiver({ mode: "hang" })
  })
  afterAll(async () => {
    await r?.close()
    await server?.stop()
  })

  it("never makes a send wait on the webhook", async () => {
    const t = await freshTenant(server.url, {}, r)
    const room = await group(t, "talker", ["asleep"])
    await send(t, "talker", room, "wake the hook")
    await until(() => r.inFlight(), (n) => n >= 1, 10_000, "a hanging webhook call")
    const latencies: Array<number> = []
    const started = performance.now()
    for (let i = 2; i <= 51; i++) {
      const t0 = performance.now()
      const res = await t.api.as("talker").post(`/rooms/${room}/messages`, { content: `m${i}` })
      latencies.push(performance.now() - t0)
      expect(res.status).toBe(201)
      expect(res.body.seq).toBe(i)
    }
    const total = performance.now() - started
    expect(r.inFlight(), "the receiver was hanging the whole time").toBeGreaterThanOrEqual(1)
    const pct = percentile(latencies)
    console.log(`50 sends while the webhook hangs: p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms, max ${pct(1)} ms, total ${total.toFixed(0)} ms`)
    expect(total, "no send waited on the webhook").toBeLessThan(5000)
  })
})

describe("webhook URL guard (WEBHOOK_ALLOW_PRIVATE unset)", () => {
  let server: RunningServer
  beforeAll(async () => {
    server = await startServer()
  })
  afterAll(async () => {
    await server?.stop()
  })

  it("refuses loopback and private URLs, non-http schemes, and a URL without a secret", async () => {
    const r = await startReceiver()
    const t = await freshTenant(server.url)
    const patch = (config: Record<string, unknown>) => admin(server.url).patch(`/admin/tenants/${t.tenantId}`, { config })
    const secret = "s".repeat(32)
    const refused = [r.url, `http://localhost:${r.port}/hook`, "http://127.0.0.2/hook", "http://10.1.2.3/hook", "http://192.168.0.10/hook"]
    refused.push("http://169.254.169.254/latest/meta-data", "http://[::1]:8080/hook", "http://[::ffff:127.0.0.1]/hook", "ftp://example.com", "example.com/hook")
    for (const webhook_url of refused) expectError(await patch({ webhook_url, webhook_secret: secret }), 400, "VALIDATION_ERROR")
    expectError(await patch({ webhook_url: "https://example.com/hook" }), 400, "VALIDATION_ERROR")
    expectError(await patch({ webhook_url: "https://example.com/hook", webhook_secret: "too-short" }), 400, "VALIDATION_ERROR")
    const created = await admin(server.url).post("/admin/tenants", { name: "guarded", config: { webhook_url: r.url, webhook_secret: secret } })
    expectError(created, 400, "VALIDATION_ERROR")
    const listed = (await admin(server.url).get("/admin/tenants")).body.tenants.find((x: any) => x.tenant_id === t.tenantId)
    expect(listed.config.webhook_url, "nothing refused was stored").toBeUndefined()

    const ok = await patch({ webhook_url: "https://example.com/hook", webhook_secret: secret })
    expect(ok.status, "a public URL with a secret is fine").toBe(200)
    expect(ok.body.config.webhook_url).toBe("https://example.com/hook")
    await r.close()
    expect(r.calls, "the server never called the local receiver").toEqual([])
  })
})
