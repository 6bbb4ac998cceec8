import * as net from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { sendRoomOf } from "../../src/http/SendRoute.js"
import { eventually } from "../e2e/_helpers.js"
import { createTenant, MASTER_KEY, type RunningServer, startServer } from "../support/server.js"

/**
 * Sends are answered ahead of the router (src/http/SendRoute.ts); a path with a percent-encoded
 * character is left to the router's `HttpApi` endpoint, which decodes it to the same room. Every
 * request here goes both ways and must get the same answer.
 */
let server: RunningServer
let key: string
let slowKey: string
let roomId: string
let slowRoomId: string

beforeAll(async () => {
  server = await startServer({ env: { MAX_BODY_BYTES: "4096" } })
  const fast = await createTenant(server.url, "send-route", { rate_limit_per_sec: 100_000, burst: 100_000, max_message_bytes: 64 })
  key = fast.apiKey
  roomId = (await fast.api.as("alice").post("/rooms", { type: "group", members: ["bob"] })).body.room_id
  // One request a second: the second in a row is refused.
  const slow = await createTenant(server.url, "send-route-slow", { rate_limit_per_sec: 1, burst: 1 })
  slowKey = slow.apiKey
  slowRoomId = (await slow.api.as("alice").post("/rooms", { type: "group", members: ["bob"] })).body.room_id
})
afterAll(async () => {
  await server?.stop()
})

/** The same room's path, one character percent-encoded: the router's. */
const routed = (id: string) => `%${id.charCodeAt(0).toString(16)}${id.slice(1)}`

interface Answer {
  readonly status: number
  readonly body: unknown
  readonly headers: Record<string, string>
}

const LIMIT_HEADERS = ["content-type", "x-ratelimit-limit", "x-ratelimit-reset", "retry-after"]

const send = async (
  id: string,
  options: { readonly key?: string | undefined; readonly user?: string | undefined; readonly body: string; readonly headers?: Record<string, string> }
): Promise<Answer> => {
  const headers: Record<string, string> = { ...options.headers }
  if (options.key !== undefined) headers["x-api-key"] = options.key
  if (options.user !== undefined) headers["x-user-id"] = options.user
  const res = await fetch(`${server.url}/rooms/${id}/messages`, { method: "POST", headers, body: options.body })
  const text = await res.text()
  let body: unknown = text
  try {
    body = JSON.parse(text)
  } catch {
    // not JSON: compared as text
  }
  const kept: Record<string, string> = {}
  for (const name of LIMIT_HEADERS) {
    const value = res.headers.get(name)
    if (value !== null) kept[name] = value
  }
  return { status: res.status, body, headers: kept }
}

/** A stored message's fields that differ between two sends of the same content. */
const withoutIdentity = (body: unknown) => {
  if (typeof body !== "object" || body === null || !("message_id" in body)) return body
  const { created_at: _c, message_id: _m, seq: _s, ...rest } = body as Record<string, unknown>
  return rest
}

const both = async (options: Parameters<typeof send>[1], id = roomId) => {
  const fast = await send(id, options)
  const slow = await send(routed(id), options)
  return { fast: { ...fast, body: withoutIdentity(fast.body) }, slow: { ...slow, body: withoutIdentity(slow.body) } }
}

const deep = (levels: number) => `{"content":"x","meta":{"a":${"[".repeat(levels)}${"]".repeat(levels)}}}`

describe("POST /rooms/{id}/messages ahead of the router", () => {
  it("takes plain paths only, and leaves the rest to the router", () => {
    expect(sendRoomOf("/rooms/r1/messages")).toBe("r1")
    expect(sendRoomOf("/rooms/r1/messages?x=1")).toBe("r1")
    expect(sendRoomOf("/rooms/%72/messages")).toBeUndefined()
    expect(sendRoomOf("/rooms//messages")).toBeUndefined()
    expect(sendRoomOf("/rooms/a/b/messages")).toBeUndefined()
    expect(sendRoomOf("/rooms/r1/messages/")).toBeUndefined()
    expect(sendRoomOf("/rooms/r1/messages/m1")).toBeUndefined()
    expect(sendRoomOf(`/rooms/${"x".repeat(2049)}/messages`)).toBeUndefined()
  })

  it.each<[string, Parameters<typeof send>[1], number]>([
    ["a message", { user: "alice", body: JSON.stringify({ content: "hello", meta: { k: 1 } }) }, 201],
    ["a message with a client_msg_id", { user: "alice", body: JSON.stringify({ content: "hello", client_msg_id: "c-1" }) }, 201],
    ["a body that is not JSON", { user: "alice", body: "{bad" }, 400],
    ["an empty body", { user: "alice", body: "" }, 400],
    ["a JSON array", { user: "alice", body: "[]" }, 400],
    ["JSON null", { user: "alice", body: "null" }, 400],
    ["content of the wrong type", { user: "alice", body: JSON.stringify({ content: 1 }) }, 400],
    ["no content", { user: "alice", body: JSON.stringify({ meta: {} }) }, 400],
    ["blank content", { user: "alice", body: JSON.stringify({ content: "  " }) }, 400],
    ["content with a NUL", { user: "alice", body: JSON.stringify({ content: "a\u0000b" }) }, 400],
    ["content over the tenant's limit", { user: "alice", body: JSON.stringify({ content: "x".repeat(65) }) }, 413],
    ["meta that is not an object", { user: "alice", body: JSON.stringify({ content: "x", meta: [1] }) }, 400],
    ["a bad client_msg_id", { user: "alice", body: JSON.stringify({ content: "x", client_msg_id: "has space" }) }, 400],
    ["a bad Idempotency-Key", { user: "alice", body: JSON.stringify({ content: "x" }), headers: { "idempotency-key": "x".repeat(129) } }, 400],
    ["a body nested too deep", { user: "alice", body: deep(70) }, 400],
    ["a body over the server's cap", { user: "alice", body: JSON.stringify({ content: "x".repeat(5000) }) }, 413],
    ["no X-User-Id", { body: JSON.stringify({ content: "x" }) }, 400],
    ["a bad X-User-Id", { user: "a b", body: JSON.stringify({ content: "x" }) }, 400],
    ["a user who is not a member", { user: "mallory", body: JSON.stringify({ content: "x" }) }, 403]
  ])("%s: the same answer both ways", async (_, options, status) => {
    const { fast, slow } = await both({ key, ...options })
    expect(fast.status).toBe(status)
    expect(fast).toEqual(slow)
  })

  it("credentials: a missing or wrong key is 401 both ways, before the body or the user is looked at", async () => {
    for (const options of [
      { body: JSON.stringify({ content: "x" }), user: "alice" },
      { body: "{bad", user: "alice", key: "sk_wrong" },
      { body: JSON.stringify({ content: 1 }), key: "" }
    ]) {
      const { fast, slow } = await both(options)
      expect(fast.status).toBe(401)
      expect(fast).toEqual(slow)
    }
  })

  it("rooms: an unknown room is 404 and an id too long for a room is 400, both ways", async () => {
    const unknown = await both({ key, user: "alice", body: JSON.stringify({ content: "x" }) }, "no-such-room")
    expect(unknown.fast.status).toBe(404)
    expect(unknown.fast).toEqual(unknown.slow)
    const long = await both({ key, user: "alice", body: JSON.stringify({ content: "x" }) }, "r".repeat(129))
    expect(long.fast.status).toBe(400)
    expect(long.fast).toEqual(long.slow)
  })

  it("the rate limit: 429 with Retry-After both ways", async () => {
    const options = { key: slowKey, user: "alice", body: JSON.stringify({ content: "x" }) }
    for (const id of [slowRoomId, routed(slowRoomId)]) {
      await send(id, options)
      const refused = await send(id, options)
      expect(refused.status).toBe(429)
      expect(refused.headers["retry-after"]).toBeDefined()
      expect(refused.body).toMatchObject({ error: { code: "RATE_LIMIT_EXCEEDED" } })
      // Let the bucket refill for the other way.
      await new Promise((resolve) => setTimeout(resolve, 1_100))
    }
  })

  it("an Idempotency-Key stores one message, whichever way it is sent again", async () => {
    const options = { key, user: "alice", body: JSON.stringify({ content: "once" }), headers: { "idempotency-key": "k-once" } }
    const first = await send(roomId, options)
    const again = await send(routed(roomId), options)
    const third = await send(roomId, options)
    expect(first.status).toBe(201)
    expect(again.body).toEqual(first.body)
    expect(third.body).toEqual(first.body)
  })

  it("a chunked body over the cap is 413, and the connection still answers the next request", async () => {
    const body = JSON.stringify({ content: "x".repeat(5000) })
    const chunked = (id: string) =>
      `POST /rooms/${id}/messages HTTP/1.1\r\nHost: x\r\nX-API-Key: ${key}\r\nX-User-Id: alice\r\nTransfer-Encoding: chunked\r\n\r\n` +
      `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n` +
      `GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`
    for (const id of [roomId, routed(roomId)]) {
      const response = await new Promise<string>((resolve, reject) => {
        const socket = net.connect(server.port, "127.0.0.1", () => socket.write(chunked(id)))
        let data = ""
        socket.on("data", (chunk) => (data += String(chunk)))
        socket.on("error", reject)
        socket.on("close", () => resolve(data))
      })
      expect(response).toMatch(/^HTTP\/1\.1 413 /)
      expect(response).toContain("\"code\":\"PAYLOAD_TOO_LARGE\"")
      expect(response.match(/HTTP\/1\.1 200 /g)?.length).toBe(1)
    }
  })

  it("each send is one request line in the log and one sample in the request metric, under the route's template", async () => {
    const samples = async () => {
      const text = await (await fetch(`${server.url}/metrics`, { headers: { "x-master-key": MASTER_KEY } })).text()
      const line = text.split("\n").find((l) =>
        l.startsWith("chatapi_http_request_duration_seconds_count{") && l.includes("route=\"/rooms/:room_id/messages\"") &&
        l.includes("status=\"201\"") && l.includes("method=\"POST\""))
      return line === undefined ? 0 : Number(line.split(" ").at(-1))
    }
    const before = await samples()
    const logged = server.logs.length
    const res = await send(roomId, { key, user: "alice", body: JSON.stringify({ content: "logged" }) })
    expect(res.status).toBe(201)
    const lineOf = () =>
      server.logs.slice(logged).map((l) => JSON.parse(l)).find((l) => l.msg === "request" && l.path === `/rooms/${roomId}/messages`)
    await eventually(async () => lineOf() !== undefined, 5_000)
    expect(lineOf()).toMatchObject({ method: "POST", route: "/rooms/:room_id/messages", status: 201, user_id: "alice" })
    expect(lineOf().tenant_id).toMatch(/^tn_/)
    expect(await samples()).toBe(before + 1)
  })
})
