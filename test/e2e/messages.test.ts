import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { createTenant, type RunningServer, startServer } from "../support/server.js"
import { type Api, expectError, FAST, fullHistory, range } from "./_helpers.js"

let server: RunningServer
let api: Api
beforeAll(async () => {
  server = await startServer()
  api = (await createTenant(server.url, "messages", FAST)).api
})
afterAll(async () => {
  await server?.stop()
})

/** A fresh group room owned by alice with the given members; users are unique per call. */
const room = async (members = ["bob"], type = "group", tenant = api) => {
  const res = await tenant.as("alice").post("/rooms", { type, members })
  expect(res.status).toBe(201)
  return `/rooms/${res.body.room_id}` as const
}
const send = (path: string, user: string, content: string, extra: Record<string, unknown> = {}) =>
  api.as(user).post(`${path}/messages`, { content, ...extra })
const seqs = (res: { body: { messages: Array<{ seq: number }> } }) => res.body.messages.map((m) => m.seq)
const fill = async (path: string, count: number) => {
  for (let i = 1; i <= count; i++) expect((await send(path, i % 2 ? "alice" : "bob", `m${i}`)).status).toBe(201)
}

describe("send", () => {
  it("answers 201 with message_id, seq, created_at and the full message", async () => {
    const path = await room()
    const res = await send(path, "alice", "hello", { meta: { kind: "text", n: 1 } })
    expect(res.status).toBe(201)
    expect(res.body).toEqual({
      message_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      room_id: path.slice(7),
      seq: 1,
      sender_id: "alice",
      content: "hello",
      meta: { kind: "text", n: 1 },
      client_msg_id: null,
      created_at: expect.any(String),
      edited_at: null,
      deleted: false,
      deleted_at: null
    })
    expect(Number.isNaN(Date.parse(res.body.created_at))).toBe(false)
    const second = await send(path, "bob", "hi")
    expect(second.body).toMatchObject({ seq: 2, sender_id: "bob", meta: {} })
    expect(second.body.message_id).not.toBe(res.body.message_id)
    expect((await api.as("bob").get(path)).body.last_seq).toBe(2)
  })

  it("rejects empty or whitespace content with 400 on content", async () => {
    const path = await room()
    for (const content of ["", "   ", "\n\t "]) expectError(await send(path, "alice", content), 400, "VALIDATION_ERROR", "content")
    expectError(await api.as("alice").post(`${path}/messages`, { meta: {} }), 400, "VALIDATION_ERROR", "content")
    expect((await api.as("alice").get(`${path}/messages`)).body.messages).toEqual([])
  })

  it("content over the tenant's max_message_bytes (counted in UTF-8 bytes) → 413", async () => {
    const small = (await createTenant(server.url, "small", { ...FAST, max_message_bytes: 10 })).api
    const path = await room(["bob"], "group", small)
    expect((await small.as("alice").post(`${path}/messages`, { content: "0123456789" })).status).toBe(201)
    expectError(await small.as("alice").post(`${path}/messages`, { content: "0123456789X" }), 413, "PAYLOAD_TOO_LARGE", "content")
    expectError(await small.as("alice").post(`${path}/messages`, { content: "éééééé" }), 413, "PAYLOAD_TOO_LARGE", "content")
    const first = (await small.as("alice").get(`${path}/messages`)).body.messages[0]
    expectError(await small.as("alice").patch(`${path}/messages/${first.message_id}`, { content: "x".repeat(11) }), 413, "PAYLOAD_TOO_LARGE")
    expect(seqs(await small.as("alice").get(`${path}/messages`))).toEqual([1])
  })

  it("meta must be a JSON object", async () => {
    const path = await room()
    for (const meta of [[1, 2], "text", 3, null, true]) expectError(await send(path, "alice", "x", { meta }), 400, "VALIDATION_ERROR", "meta")
  })

  it("non-members cannot send: group 403, channel 403 until joined, unknown room 404", async () => {
    const path = await room()
    expectError(await send(path, "eve", "let me in"), 403, "FORBIDDEN")
    const channel = await room([], "channel")
    expectError(await send(channel, "eve", "hi"), 403, "FORBIDDEN")
    expect((await api.as("eve").get(`${channel}/messages`)).status).toBe(200)
    expect((await api.as("eve").post(`${channel}/members`, { user_ids: ["eve"] })).status).toBe(200)
    expect((await send(channel, "eve", "hi")).body.seq).toBe(1)
    expectError(await send("/rooms/no-such-room", "alice", "x"), 404, "NOT_FOUND")
    expectError(await api.as("eve").get(`${path}/messages`), 403, "FORBIDDEN")
  })
})

describe("history", () => {
  it("pages with after_seq, before_seq and limit, ascending, with has_more", async () => {
    const path = await room()
    await fill(path, 7)
    const get = (q: string) => api.as("bob").get(`${path}/messages?${q}`)
    expect(seqs(await get("after_seq=0"))).toEqual([1, 2, 3, 4, 5, 6, 7])
    expect((await get("after_seq=2&limit=3")).body).toMatchObject({ has_more: true })
    expect(seqs(await get("after_seq=2&limit=3"))).toEqual([3, 4, 5])
    expect((await get("after_seq=5")).body.has_more).toBe(false)
    expect(seqs(await get("after_seq=5"))).toEqual([6, 7])
    expect(seqs(await get("before_seq=4"))).toEqual([1, 2, 3])
    expect((await get("before_seq=4")).body.has_more).toBe(false)
    expect(seqs(await get("before_seq=7&limit=2"))).toEqual([5, 6])
    expect((await get("before_seq=7&limit=2")).body.has_more).toBe(true)
    expect(seqs(await get("after_seq=2&before_seq=5"))).toEqual([3, 4])
    expect(seqs(await get("after_seq=7"))).toEqual([])
  })

  it("rejects limit 0, 101, abc and negative seqs with 400", async () => {
    const path = await room()
    for (const q of ["limit=0", "limit=101", "limit=abc", "limit=1.5"]) {
      expectError(await api.as("alice").get(`${path}/messages?${q}`), 400, "VALIDATION_ERROR", "limit")
    }
    expectError(await api.as("alice").get(`${path}/messages?after_seq=-1`), 400, "VALIDATION_ERROR", "after_seq")
    expectError(await api.as("alice").get(`${path}/messages?before_seq=x`), 400, "VALIDATION_ERROR", "before_seq")
    expect((await api.as("alice").get(`${path}/messages?limit=100`)).status).toBe(200)
  })

  it("defaults to the latest 50 messages in ascending order", async () => {
    const path = await room()
    await fill(path, 60)
    const res = await api.as("alice").get(`${path}/messages`)
    expect(res.status).toBe(200)
    expect(seqs(res)).toEqual(range(11, 60))
    expect(res.body.has_more).toBe(true)
  })
})

describe("edit and delete", () => {
  it("the sender edits (edited_at set); another user gets 403; unknown message 404", async () => {
    const path = await room()
    const sent = (await send(path, "alice", "draft")).body
    const edited = await api.as("alice").patch(`${path}/messages/${sent.message_id}`, { content: "final", meta: { v: 2 } })
    expect(edited.status).toBe(200)
    expect(edited.body).toMatchObject({ message_id: sent.message_id, seq: 1, content: "final", meta: { v: 2 }, deleted: false })
    expect(Date.parse(edited.body.edited_at)).toBeGreaterThanOrEqual(Date.parse(sent.created_at))
    expect((await api.as("bob").get(`${path}/messages`)).body.messages[0]).toMatchObject({ content: "final", edited_at: edited.body.edited_at })
    expectError(await api.as("bob").patch(`${path}/messages/${sent.message_id}`, { content: "hijack" }), 403, "FORBIDDEN")
    expectError(await api.as("alice").patch(`${path}/messages/00000000-0000-4000-8000-000000000000`, { content: "x" }), 404, "NOT_FOUND")
    expectError(await api.as("alice").patch(`${path}/messages/${sent.message_id}`, {}), 400, "VALIDATION_ERROR")
    expectError(await api.as("alice").patch(`${path}/messages/${sent.message_id}`, { content: " " }), 400, "VALIDATION_ERROR", "content")
    expect((await api.as("bob").get(`${path}/messages`)).body.messages[0].content).toBe("final")
  })

  it("delete by the sender leaves a tombstone that keeps its seq; editing it → 409", async () => {
    const path = await room()
    const m1 = (await send(path, "alice", "one", { meta: { a: 1 } })).body
    await send(path, "bob", "two")
    expectError(await api.as("bob").del(`${path}/messages/${m1.message_id}`), 403, "FORBIDDEN")
    const del = await api.as("alice").del(`${path}/messages/${m1.message_id}`)
    expect(del.status).toBe(200)
    expect(del.body).toMatchObject({ message_id: m1.message_id, seq: 1, deleted: true, content: "", meta: {} })
    expect(typeof del.body.deleted_at).toBe("string")
    const history = (await api.as("bob").get(`${path}/messages`)).body.messages
    expect(history.map((m: any) => [m.seq, m.deleted, m.content])).toEqual([[1, true, ""], [2, false, "two"]])
    expectError(await api.as("alice").patch(`${path}/messages/${m1.message_id}`, { content: "back" }), 409, "CONFLICT")
    expect((await send(path, "alice", "three")).body.seq).toBe(3)
  })
})

describe("acks", () => {
  it("last_ack moves forward only, seq beyond last_seq → 400, unread follows", async () => {
    const path = await room()
    const roomId = path.slice(7)
    for (let i = 0; i < 5; i++) await send(path, "bob", `b${i}`)
    const ack = (seq: unknown, user = "alice") => api.as(user).post("/acks", { room_id: roomId, seq })
    expect((await ack(3)).body).toEqual({ room_id: roomId, last_ack: 3, unread: 2 })
    expect((await ack(1)).body).toEqual({ room_id: roomId, last_ack: 3, unread: 2 })
    expect((await ack(3)).body).toEqual({ room_id: roomId, last_ack: 3, unread: 2 })
    const listed = (await api.as("alice").get("/rooms")).body.rooms.find((r: any) => r.room_id === roomId)
    expect(listed).toMatchObject({ last_seq: 5, last_ack: 3, unread: 2 })
    expectError(await ack(6), 400, "VALIDATION_ERROR", "seq")
    expectError(await ack(-1), 400, "VALIDATION_ERROR", "seq")
    expectError(await ack("2"), 400, "VALIDATION_ERROR", "seq")
    expectError(await ack(1, "eve"), 403, "FORBIDDEN")
    expectError(await api.as("alice").post("/acks", { room_id: "no-such-room", seq: 1 }), 404, "NOT_FOUND")
    await send(path, "alice", "mine")
    expect((await ack(5)).body).toEqual({ room_id: roomId, last_ack: 5, unread: 0 })
    await send(path, "bob", "more")
    expect((await api.as("alice").get("/rooms")).body.rooms.find((r: any) => r.room_id === roomId)).toMatchObject({ last_ack: 5, unread: 1 })
  })
})

describe("concurrency and idempotency", () => {
  it("200 concurrent sends from 5 users get seqs exactly 1..200, and history returns them in order", async () => {
    const users = ["u1", "u2", "u3", "u4", "u5"]
    const path = await room(users)
    const results = await Promise.all(range(1, 200).map((i) => send(path, users[i % 5]!, `c${i}`)))
    expect(results.every((r) => r.status === 201)).toBe(true)
    expect(results.map((r) => r.body.seq).sort((a, b) => a - b)).toEqual(range(1, 200))
    const history = await fullHistory(api, "u1", path.slice(7))
    expect(history.map((m) => m.seq)).toEqual(range(1, 200))
    const bySeq = new Map(results.map((r) => [r.body.seq, r.body.message_id]))
    for (const m of history) expect(m.message_id).toBe(bySeq.get(m.seq))
    expect((await api.as("u1").get(path)).body.last_seq).toBe(200)
  })

  it("two rooms keep independent sequences under concurrent sends", async () => {
    const a = await room()
    const b = await room()
    const results = await Promise.all(range(1, 100).flatMap((i) => [send(a, "alice", `a${i}`), send(b, "bob", `b${i}`)]))
    expect(results.every((r) => r.status === 201)).toBe(true)
    for (const path of [a, b]) {
      const mine = results.filter((r) => r.body.room_id === path.slice(7)).map((r) => r.body.seq)
      expect(mine.sort((x, y) => x - y)).toEqual(range(1, 100))
      expect((await fullHistory(api, "alice", path.slice(7))).map((m) => m.seq)).toEqual(range(1, 100))
    }
  })

  it("10 concurrent sends with one Idempotency-Key store exactly one message", async () => {
    const path = await room()
    const results = await Promise.all(
      range(1, 10).map(() => api.as("alice").post(`${path}/messages`, { content: "once" }, { "Idempotency-Key": "key-123" }))
    )
    for (const r of results) expect([200, 201]).toContain(r.status)
    expect(new Set(results.map((r) => r.body.message_id)).size).toBe(1)
    expect(results[0]!.body.seq).toBe(1)
    const history = (await api.as("alice").get(`${path}/messages`)).body.messages
    expect(history).toHaveLength(1)
    expect(history[0].message_id).toBe(results[0]!.body.message_id)
    const later = await api.as("alice").post(`${path}/messages`, { content: "once" }, { "Idempotency-Key": "key-123" })
    expect(later.body.message_id).toBe(results[0]!.body.message_id)
    expect((await send(path, "alice", "next")).body.seq).toBe(2)
  })

  it("10 concurrent sends with one client_msg_id store exactly one message", async () => {
    const path = await room()
    const results = await Promise.all(range(1, 10).map(() => send(path, "alice", "once", { client_msg_id: "cm-1" })))
    for (const r of results) expect([200, 201]).toContain(r.status)
    expect(new Set(results.map((r) => r.body.message_id)).size).toBe(1)
    expect(results[0]!.body).toMatchObject({ seq: 1, client_msg_id: "cm-1" })
    expect((await api.as("alice").get(`${path}/messages`)).body.messages).toHaveLength(1)
    expect((await send(path, "alice", "next")).body.seq).toBe(2)
  })
})
