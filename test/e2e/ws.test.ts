import * as crypto from "node:crypto"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { createTenant, type RunningServer, startServer } from "../support/server.js"
import { connectWs } from "../support/ws.js"
import { FAST, isMessage, range } from "./_helpers.js"

const TOKEN_SECRET = "a-test-token-secret-of-some-length"

describe("WebSocket /ws", () => {
  let server: RunningServer
  let tenant: Awaited<ReturnType<typeof createTenant>>
  beforeAll(async () => {
    server = await startServer({ env: { TOKEN_SECRET } })
    tenant = await createTenant(server.url, "ws", FAST)
  })
  afterAll(async () => {
    await server?.stop()
  })

  const group = async (owner: string, members: Array<string>) => {
    const res = await tenant.api.as(owner).post("/rooms", { type: "group", members })
    expect(res.status).toBe(201)
    return res.body.room_id as string
  }
  const asUser = (user: string) => ({ headers: { "x-api-key": tenant.apiKey, "x-user-id": user } })

  it("authenticates by headers, by query and by token, and refuses bad credentials at the upgrade", async () => {
    const byHeaders = await connectWs(server.url, asUser("h1"))
    const byQuery = await connectWs(server.url, { query: { api_key: tenant.apiKey, user_id: "q1" } })
    const issued = await tenant.api.as("t1").post("/tokens", { ttl_seconds: 60 })
    expect(issued.status).toBe(201)
    expect(issued.body.token).toMatch(/^ct_/)
    const byToken = await connectWs(server.url, { query: { token: issued.body.token } })
    for (const c of [byHeaders, byQuery, byToken]) {
      c.send({ type: "ping", request_id: "p" })
      await c.waitFor((f) => f.type === "pong" && f.request_id === "p")
      await c.close()
    }
    const tampered = issued.body.token.slice(0, -2) + (issued.body.token.endsWith("A") ? "BB" : "AA")
    await expect(connectWs(server.url, { query: { token: tampered } })).rejects.toMatchObject({ status: 401 })
    // The same signature bytes written differently: the last character's spare bits changed.
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    const spare = issued.body.token.slice(0, -1) + alphabet[alphabet.indexOf(issued.body.token.at(-1)) ^ 1]
    await expect(connectWs(server.url, { query: { token: spare } })).rejects.toMatchObject({ status: 401 })
    await expect(connectWs(server.url, { query: { api_key: issued.body.token, user_id: "t1" } })).rejects.toMatchObject({ status: 401 })
    await expect(connectWs(server.url, { query: { api_key: "sk_nope", user_id: "x" } })).rejects.toMatchObject({ status: 401 })
    await expect(connectWs(server.url, { query: { api_key: tenant.apiKey } })).rejects.toMatchObject({ status: 400 })
  })

  it("refuses an expired token", async () => {
    const payload = Buffer.from(JSON.stringify({ t: tenant.tenantId, u: "late", e: Date.now() - 1000 })).toString("base64url")
    const signature = crypto.createHmac("sha256", TOKEN_SECRET).update(payload).digest("base64url")
    await expect(connectWs(server.url, { query: { token: `ct_${payload}.${signature}` } })).rejects.toMatchObject({ status: 401 })
    const fresh = Buffer.from(JSON.stringify({ t: tenant.tenantId, u: "late", e: Date.now() + 60_000 })).toString("base64url")
    const ok = await connectWs(server.url, { query: { token: `ct_${fresh}.${crypto.createHmac("sha256", TOKEN_SECRET).update(fresh).digest("base64url")}` } })
    await ok.close()
  })

  it("sends message.sent to the sender and message to the other members, for WS and REST sends", async () => {
    const room = await group("ann", ["ben"])
    const ann = await connectWs(server.url, asUser("ann"))
    const ben = await connectWs(server.url, asUser("ben"))
    ann.send({ type: "send_message", room_id: room, content: "over ws", request_id: "r1" })
    const [sent] = await ann.waitFor((f) => f.type === "message.sent")
    expect(sent).toMatchObject({ request_id: "r1", room_id: room, seq: 1 })
    const [live] = await ben.waitFor(isMessage(room))
    expect(live).toMatchObject({ seq: 1, sender_id: "ann", content: "over ws", message_id: sent!.message_id })
    await tenant.api.as("ben").post(`/rooms/${room}/messages`, { content: "over rest" })
    const both = await ann.waitFor(isMessage(room))
    expect(both.map((f) => f.seq)).toEqual([2])
    expect(ann.frames.some((f) => f.type === "message" && f.seq === 1)).toBe(false)
    await Promise.all([ann.close(), ben.close()])
  })

  it("syncs missed messages in order on connect, from the last ack, over every room", async () => {
    const room = await group("cat", ["dan"])
    const other = await group("eve", ["dan"])
    for (const i of range(1, 50)) await tenant.api.as("cat").post(`/rooms/${room}/messages`, { content: `m${i}` })
    await tenant.api.as("eve").post(`/rooms/${other}/messages`, { content: "elsewhere" })
    const first = await connectWs(server.url, asUser("dan"))
    const synced = await first.waitFor(isMessage(room), 50)
    expect(synced.map((f) => f.seq)).toEqual(range(1, 50))
    await first.waitFor(isMessage(other))
    await first.close()

    expect((await tenant.api.as("dan").post("/acks", { room_id: room, seq: 30 })).status).toBe(200)
    const second = await connectWs(server.url, asUser("dan"))
    await second.waitFor(isMessage(room), 20)
    await new Promise((r) => setTimeout(r, 200))
    expect(second.frames.filter(isMessage(room)).map((f) => f.seq)).toEqual(range(31, 50))

    second.send({ type: "ack", room_id: room, seq: 45 })
    second.send({ type: "ping", request_id: "after-ack" })
    await second.waitFor((f) => f.type === "pong")
    await second.close()
    const third = await connectWs(server.url, asUser("dan"))
    await third.waitFor(isMessage(room), 5)
    await new Promise((r) => setTimeout(r, 200))
    expect(third.frames.filter(isMessage(room)).map((f) => f.seq)).toEqual(range(46, 50))
    await third.close()
  })

  it("delivers messages committed while the client connects exactly once, in order", async () => {
    const room = await group("fay", ["gus"])
    const sending = Promise.all(range(1, 100).map((i) => tenant.api.as("fay").post(`/rooms/${room}/messages`, { content: `c${i}` })))
    const gus = await connectWs(server.url, asUser("gus"))
    await sending
    await gus.waitFor(isMessage(room), 100)
    await new Promise((r) => setTimeout(r, 200))
    expect(gus.frames.filter(isMessage(room)).map((f) => f.seq)).toEqual(range(1, 100))
    await gus.close()
  })

  it("answers malformed, unknown and forbidden frames with error frames and stays up", async () => {
    const room = await group("hal", ["ida"])
    const outsider = await connectWs(server.url, asUser("joe"))
    outsider.send("{not json")
    outsider.send({ type: "launch_rockets", request_id: "u1" })
    outsider.send({ type: "send_message", room_id: room, content: "let me in", request_id: "f1" })
    outsider.send({ type: "send_message", room_id: "no-such-room", content: "hi", request_id: "n1" })
    outsider.send({ type: "send_message", room_id: room, request_id: "v1" })
    const errors = await outsider.waitFor((f) => f.type === "error", 5)
    expect(errors.map((e) => [e.code, e.request_id])).toEqual([
      ["VALIDATION_ERROR", undefined],
      ["VALIDATION_ERROR", "u1"],
      ["FORBIDDEN", "f1"],
      ["NOT_FOUND", "n1"],
      ["VALIDATION_ERROR", "v1"]
    ])
    outsider.send({ type: "ping", request_id: "still" })
    await outsider.waitFor((f) => f.type === "pong" && f.request_id === "still")
    await outsider.close()
  })

  it("keeps one gap-free sequence for 20 clients sending 50 messages each over WS and REST", async () => {
    const users = range(1, 20).map((i) => `load${i}`)
    const room = await group(users[0]!, users.slice(1))
    const clients = await Promise.all(users.map((u) => connectWs(server.url, asUser(u))))
    await Promise.all(users.map(async (u, i) => {
      for (const n of range(1, 50)) {
        if (i % 2 === 0) clients[i]!.send({ type: "send_message", room_id: room, content: `${u}-${n}` })
        else await tenant.api.as(u).post(`/rooms/${room}/messages`, { content: `${u}-${n}` })
      }
    }))
    // Everyone sees every message: as `message`, or as `message.sent` for their own WS sends.
    await Promise.all(clients.map((c) =>
      c.waitFor((f) => (f.type === "message" && f.room_id === room) || f.type === "message.sent", 1000, 30_000)))
    for (const [i, c] of clients.entries()) {
      const seqs = c.frames.filter((f) => (f.type === "message" && f.room_id === room) || f.type === "message.sent").map((f) => f.seq)
      expect(new Set(seqs).size, `client ${i}`).toBe(1000)
      expect(Math.max(...seqs)).toBe(1000)
      const live = c.frames.filter(isMessage(room)).map((f) => f.seq)
      expect(live, "message frames arrive in seq order").toEqual([...live].sort((a, b) => a - b))
    }
    await Promise.all(clients.map((c) => c.close()))
  })
})
