import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { client, createTenant, MASTER_KEY, type Response, type RunningServer, startServer } from "../support/server.js"
import { type Api, expectError, expectNoStack, FAST } from "./_helpers.js"

let server: RunningServer
let small: RunningServer
let closed: RunningServer
let api: Api
let roomId: string
beforeAll(async () => {
  ;[server, small, closed] = await Promise.all([
    startServer(),
    startServer({ env: { MAX_BODY_BYTES: "1024" } }),
    startServer({ env: { MASTER_API_KEY: "" } })
  ])
  api = (await createTenant(server.url, "errors", FAST)).api
  roomId = (await api.as("alice").post("/rooms", { type: "group", members: ["bob"] })).body.room_id
})
afterAll(async () => {
  await Promise.all([server?.stop(), small?.stop(), closed?.stop()])
})

/** An admin request; `key: null` sends no X-Master-Key header. */
const admin = (url: string, method: string, route: string, body?: unknown, key: string | null = MASTER_KEY) =>
  client(url).request(method, route, { ...(key === null ? {} : { headers: { "x-master-key": key } }), ...(body === undefined ? {} : { body }) })

describe("authentication and X-User-Id", () => {
  it("a missing or invalid X-API-Key → 401 AUTHENTICATION_ERROR on every tenant route", async () => {
    for (const key of [undefined, "", "sk_not-a-real-key", "not-even-prefixed", `sk_${"x".repeat(300)}`]) {
      const c = client(server.url, key)
      expectError(await c.request("GET", "/rooms", { user: "alice" }), 401, "AUTHENTICATION_ERROR")
      expectError(await c.request("POST", `/rooms/${roomId}/messages`, { user: "alice", body: { content: "x" } }), 401, "AUTHENTICATION_ERROR")
      expectError(await c.request("POST", "/acks", { body: { room_id: roomId, seq: 0 } }), 401, "AUTHENTICATION_ERROR")
    }
  })

  it("a missing or invalid X-User-Id → 400 with field X-User-Id", async () => {
    for (const user of [undefined, "", "a:b", "has space", "x".repeat(200), "a/b"]) {
      const req = (method: string, route: string, body?: unknown) =>
        api.request(method, route, { ...(user === undefined ? {} : { user }), ...(body === undefined ? {} : { body }) })
      expectError(await req("GET", "/rooms"), 400, "VALIDATION_ERROR", "X-User-Id")
      expectError(await req("POST", "/rooms", { type: "group", members: [] }), 400, "VALIDATION_ERROR", "X-User-Id")
      expectError(await req("GET", `/rooms/${roomId}/messages`), 400, "VALIDATION_ERROR", "X-User-Id")
      expectError(await req("POST", "/acks", { room_id: roomId, seq: 0 }), 400, "VALIDATION_ERROR", "X-User-Id")
    }
    expect((await api.as("x".repeat(128)).get("/rooms")).status).toBe(200)
  })
})

describe("malformed requests", () => {
  it("a body that is not JSON → 400 VALIDATION_ERROR", async () => {
    const raw = (method: string, route: string, text: string) =>
      api.request(method, route, { user: "alice", raw: text, headers: { "content-type": "application/json" } })
    expectError(await raw("POST", "/rooms", "{bad"), 400, "VALIDATION_ERROR")
    expectError(await raw("POST", `/rooms/${roomId}/messages`, "not json at all"), 400, "VALIDATION_ERROR")
    expectError(await raw("PATCH", `/rooms/${roomId}`, "{\"name\":"), 400, "VALIDATION_ERROR")
    expectError(await raw("POST", "/acks", "[1,2"), 400, "VALIDATION_ERROR")
    expectError(await raw("POST", "/rooms", "[]"), 400, "VALIDATION_ERROR")
    expectError(await raw("POST", "/rooms", "null"), 400, "VALIDATION_ERROR")
  })

  it("an unknown route → 404 NOT_FOUND", async () => {
    expectError(await api.as("alice").get("/nope"), 404, "NOT_FOUND")
    expectError(await api.as("alice").post(`/rooms/${roomId}/unknown`, {}), 404, "NOT_FOUND")
    expectError(await api.as("alice").del("/rooms"), 404, "NOT_FOUND")
    expectError(await client(server.url).request("GET", "/definitely/not/here"), 404, "NOT_FOUND")
  })

  it("a body over MAX_BODY_BYTES (with Content-Length) → 413 PAYLOAD_TOO_LARGE", async () => {
    const t = await createTenant(small.url, "small")
    const route = `/rooms/${(await t.api.as("alice").post("/rooms", { type: "group", members: [] })).body.room_id}/messages`
    expect((await t.api.as("alice").post(route, { content: "y".repeat(900) })).status).toBe(201)
    expectError(await t.api.as("alice").post(route, { content: "y".repeat(2000) }), 413, "PAYLOAD_TOO_LARGE")
    expectError(await t.api.as("alice").post("/rooms", { type: "group", members: [], name: "n".repeat(1500) }), 413, "PAYLOAD_TOO_LARGE")
    expect((await t.api.as("alice").get(route)).body.messages).toHaveLength(1)
  })

  it("a chunked body (no Content-Length) over MAX_BODY_BYTES → 413 PAYLOAD_TOO_LARGE response", async () => {
    const t = await createTenant(small.url, "small")
    const route = `/rooms/${(await t.api.as("alice").post("/rooms", { type: "group", members: [] })).body.room_id}/messages`
    const chunk = new TextEncoder().encode(JSON.stringify({ content: "z".repeat(4000) }))
    const stream = new ReadableStream({ start: (c) => (c.enqueue(chunk.slice(0, 2000)), c.enqueue(chunk.slice(2000)), c.close()) })
    const res = await fetch(small.url + route, {
      method: "POST", body: stream, duplex: "half",
      headers: { "x-api-key": t.apiKey, "x-user-id": "alice", "content-type": "application/json" }
    } as RequestInit).then(
      async (r) => ({ status: r.status, headers: r.headers, body: await r.json() }),
      (e: any) => ({ status: 0, headers: new Headers(), body: `no HTTP response: ${e?.cause?.message ?? e}` })
    )
    expect({ status: res.status, body: res.body }).toMatchObject({ status: 413 })
    expectError(res, 413, "PAYLOAD_TOO_LARGE")
    expect((await t.api.as("alice").get(route)).body.messages).toHaveLength(0)
  })

  it("hostile input never yields a 500 or a stack trace", async () => {
    const a = api.as("alice")
    const results: Array<Response> = [
      await a.post("/rooms", { type: "group", members: [], metadata: { __proto__: { x: 1 }, constructor: "y" } }),
      await a.post("/rooms", { type: { $gt: "" }, members: [{}] }),
      await a.post(`/rooms/${roomId}/messages`, { content: 12 }),
      await a.post(`/rooms/${roomId}/messages`, { content: "\u0000\ud800 odd" }),
      await a.post(`/rooms/${roomId}/messages`, { content: "x", meta: JSON.parse("[".repeat(500) + "]".repeat(500)) }),
      await a.post("/acks", { room_id: roomId, seq: 1e308 }),
      await a.post("/acks", { room_id: 5, seq: "x" }),
      await a.get(`/rooms/${roomId}/messages?after_seq=1e400&limit=1e2`),
      await a.get(`/rooms/${roomId}/messages?after_seq=9007199254740993`),
      await a.get("/rooms?limit=-5"),
      await a.get(`/rooms/${"%00".repeat(10)}`),
      await a.patch(`/rooms/${roomId}/messages/${"m".repeat(300)}`, { content: "x" }),
      await admin(server.url, "POST", "/admin/tenants", { name: "", config: [] }),
      await admin(server.url, "PATCH", "/admin/tenants/tn_nope", { config: { burst: -1 } })
    ]
    for (const res of results) expectNoStack(res)
  })
})

describe("admin API", () => {
  it("a wrong or missing master key → 401; no MASTER_API_KEY configured → 403", async () => {
    expectError(await admin(server.url, "GET", "/admin/tenants", undefined, "wrong"), 401, "AUTHENTICATION_ERROR")
    expectError(await admin(server.url, "GET", "/admin/tenants", undefined, null), 401, "AUTHENTICATION_ERROR")
    expectError(await admin(server.url, "POST", "/admin/tenants", { name: "x" }, "wrong"), 401, "AUTHENTICATION_ERROR")
    for (const key of [null, "", MASTER_KEY]) {
      expectError(await admin(closed.url, "GET", "/admin/tenants", undefined, key), 403, "FORBIDDEN")
      expectError(await admin(closed.url, "POST", "/admin/tenants", { name: "x" }, key), 403, "FORBIDDEN")
    }
  })

  it("creates, lists, patches and rotates; secrets never listed; bad config → 400", async () => {
    const secret = "whsec-0123456789abcdef"
    const created = await admin(server.url, "POST", "/admin/tenants", {
      name: "Acme", config: { rate_limit_per_sec: 50, webhook_url: "https://example.com/hook", webhook_secret: secret }
    })
    expect(created.status).toBe(201)
    expect(created.body).toMatchObject({ tenant_id: expect.stringMatching(/^tn_/), name: "Acme", config: { rate_limit_per_sec: 50 } })
    expect(created.body.api_key).toMatch(/^sk_[A-Za-z0-9_-]{43,}$/)
    expect(JSON.stringify(created.body)).not.toContain(secret)
    const id = created.body.tenant_id as string
    const oldKey = created.body.api_key as string

    const list = await admin(server.url, "GET", "/admin/tenants")
    expect(list.status).toBe(200)
    expect(list.body.tenants.map((t: any) => t.tenant_id)).toContain(id)
    const text = JSON.stringify(list.body)
    for (const hidden of ["api_key", "webhook_secret", secret, oldKey]) expect(text).not.toContain(hidden)

    const patched = await admin(server.url, "PATCH", `/admin/tenants/${id}`, { name: "Acme 2", config: { burst: 500, rate_limit_per_sec: null } })
    expect(patched.status).toBe(200)
    expect(patched.body).toMatchObject({ tenant_id: id, name: "Acme 2", config: { burst: 500, webhook_url: "https://example.com/hook" } })
    expect(patched.body.config.rate_limit_per_sec).toBeUndefined()
    expect(JSON.stringify(patched.body)).not.toContain(secret)
    expectError(await admin(server.url, "PATCH", "/admin/tenants/tn_doesnotexist", { name: "x" }), 404, "NOT_FOUND")
    expectError(await admin(server.url, "POST", "/admin/tenants/tn_doesnotexist/rotate-key"), 404, "NOT_FOUND")
    expectError(await admin(server.url, "POST", "/admin/tenants", { name: "x", config: { nope: 1 } }), 400, "VALIDATION_ERROR")
    expectError(await admin(server.url, "PATCH", `/admin/tenants/${id}`, { config: { nope: 1 } }), 400, "VALIDATION_ERROR")
    expectError(await admin(server.url, "POST", "/admin/tenants", { name: "x", config: { rate_limit_per_sec: 0 } }), 400, "VALIDATION_ERROR")
    expectError(await admin(server.url, "POST", "/admin/tenants", { name: "  " }), 400, "VALIDATION_ERROR", "name")

    const rotated = await admin(server.url, "POST", `/admin/tenants/${id}/rotate-key`)
    expect(rotated.status).toBe(200)
    expect(rotated.body).toMatchObject({ tenant_id: id, name: "Acme 2" })
    expect(rotated.body.api_key).toMatch(/^sk_/)
    expect(rotated.body.api_key).not.toBe(oldKey)
    expect((await client(server.url, rotated.body.api_key).as("alice").get("/rooms")).status).toBe(200)
    expectError(await client(server.url, oldKey).as("alice").get("/rooms"), 401, "AUTHENTICATION_ERROR")
  })
})

describe("rate limits", () => {
  it("burst 3 at 1/s: 3 successes with X-RateLimit-* headers, then 429 with Retry-After", async () => {
    const { api: limited } = await createTenant(server.url, "limited", { rate_limit_per_sec: 1, burst: 3 })
    const { api: other } = await createTenant(server.url, "other", { rate_limit_per_sec: 1, burst: 3 })
    for (const remaining of ["2", "1", "0"]) {
      const res = await limited.as("alice").get("/rooms")
      expect(res.status).toBe(200)
      expect(res.headers.get("x-ratelimit-limit")).toBe("3")
      expect(res.headers.get("x-ratelimit-remaining")).toBe(remaining)
      expect(res.headers.get("x-ratelimit-reset")).toMatch(/^[1-9]\d*$/)
    }
    const refused = await limited.as("alice").post("/rooms", { type: "group", members: [] })
    expectError(refused, 429, "RATE_LIMIT_EXCEEDED")
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1)
    expect(refused.headers.get("retry-after")).toMatch(/^\d+$/)
    expect(refused.headers.get("x-ratelimit-remaining")).toBe("0")
    expectError(await limited.as("bob").get("/rooms"), 429, "RATE_LIMIT_EXCEEDED")
    expect((await other.as("alice").get("/rooms")).status).toBe(200)
  })
})

describe("tenant isolation", () => {
  it("B's key on A's ids behaves exactly like ids that never existed (404)", async () => {
    const A = (await createTenant(server.url, "tenant-a", FAST)).api
    const B = (await createTenant(server.url, "tenant-b", FAST)).api
    const mk = async (type: string, members: Array<string>) => (await A.as("alice").post("/rooms", { type, members, name: "secret" })).body.room_id
    const aRooms = [await mk("group", ["bob"]), await mk("channel", []), await mk("dm", ["bob"])]
    const aMsgs: Array<string> = []
    for (const r of aRooms) aMsgs.push((await A.as("alice").post(`/rooms/${r}/messages`, { content: "private" })).body.message_id)
    const ghostRoom = "4f1c2a9e-0000-4000-8000-000000000000"
    const ghostMsg = "9a8b7c6d-0000-4000-8000-000000000000"
    const b = B.as("alice")
    const probes = (r: string, m: string): Array<[string, () => Promise<Response>]> => [
      ["GET room", () => b.get(`/rooms/${r}`)], ["PATCH room", () => b.patch(`/rooms/${r}`, { name: "pwned" })],
      ["GET members", () => b.get(`/rooms/${r}/members`)], ["POST members", () => b.post(`/rooms/${r}/members`, { user_ids: ["alice"] })],
      ["DELETE member", () => b.del(`/rooms/${r}/members/alice`)], ["GET messages", () => b.get(`/rooms/${r}/messages`)],
      ["POST message", () => b.post(`/rooms/${r}/messages`, { content: "x" })],
      ["PATCH message", () => b.patch(`/rooms/${r}/messages/${m}`, { content: "x" })],
      ["DELETE message", () => b.del(`/rooms/${r}/messages/${m}`)], ["POST ack", () => b.post("/acks", { room_id: r, seq: 1 })]
    ]
    const compare = async (real: Array<[string, () => Promise<Response>]>, ghost: Array<[string, () => Promise<Response>]>) => {
      for (let i = 0; i < real.length; i++) {
        const [name, run] = real[i]!
        const x = await run()
        const y = await ghost[i]![1]()
        expect({ name, status: x.status, body: x.body }).toEqual({ name, status: y.status, body: y.body })
        expect({ name, status: x.status }).toEqual({ name, status: 404 })
      }
    }
    for (let i = 0; i < aRooms.length; i++) await compare(probes(aRooms[i]!, aMsgs[i]!), probes(ghostRoom, ghostMsg))
    const bRoom = (await B.as("alice").post("/rooms", { type: "group", members: [] })).body.room_id
    await compare(probes(bRoom, aMsgs[0]!).slice(7, 9), probes(bRoom, ghostMsg).slice(7, 9)) // B's own room, A's message id

    expect((await B.as("alice").get("/rooms")).body.rooms.map((r: any) => r.room_id)).toEqual([bRoom])
    const bDm = await B.as("alice").post("/rooms", { type: "dm", members: ["bob"] })
    expect(bDm.status).toBe(201)
    expect(bDm.body.room_id).not.toBe(aRooms[2])
    for (let i = 0; i < aRooms.length; i++) {
      expect((await A.as("alice").get(`/rooms/${aRooms[i]}`)).body.name).toBe("secret")
      expect((await A.as("alice").get(`/rooms/${aRooms[i]}/messages`)).body.messages).toMatchObject([{ message_id: aMsgs[i], content: "private" }])
    }
  })
})
