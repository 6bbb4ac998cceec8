import fc from "fast-check"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { createTenant, MASTER_KEY, type RunningServer, startServer } from "../support/server.js"
import {
  type BigKind,
  bigBody,
  bigRecipe,
  contentType,
  defaultHeaders,
  type Fixture,
  fillPath,
  headerValue,
  hostileSegment,
  jsonBody,
  rawBody,
  type Req,
  type Res,
  type Route,
  routes,
  send
} from "./fuzz-arbitraries.js"

/** SPEC §9: the only codes a 4xx may carry, each with its status. */
const CODES: Record<number, string> = {
  400: "VALIDATION_ERROR",
  401: "AUTHENTICATION_ERROR",
  403: "FORBIDDEN",
  404: "NOT_FOUND",
  409: "CONFLICT",
  413: "PAYLOAD_TOO_LARGE",
  429: "RATE_LIMIT_EXCEEDED"
}

const STACK = /\n\s+at\s|\bat \S+ \((?:file:|node:|\/)[^)]*:\d+:\d+\)|node_modules|\/dist\/|\.[cm]?[jt]s:\d+:\d+/

const cut = (s: string, n = 300) => (s.length > n ? `${s.slice(0, n)}... (${s.length} chars)` : s)

const describeExchange = (req: Req, res: Res) =>
  `${req.method} ${cut(req.path, 200)}\n  headers: ${cut(JSON.stringify(req.headers), 400)}\n  body: ${
    cut(typeof req.body === "string" ? JSON.stringify(req.body) : String(req.body?.toString("hex")))
  }\n  -> ${res.status} ${cut(res.text)}`

/** The invariants every answer keeps, whatever the request. */
const check = (req: Req, res: Res) => {
  const fail = (why: string) => {
    throw new Error(`${why}\n${describeExchange(req, res)}`)
  }
  if (res.status >= 500) fail("5xx on bad input")
  if (STACK.test(res.text)) fail("the body leaks a stack trace or a source path")
  if (res.status < 400) return
  let body: any
  try {
    body = JSON.parse(res.text)
  } catch {
    return fail("a 4xx body that is not JSON")
  }
  const error = body?.error
  const shaped = typeof body === "object" && body !== null && !Array.isArray(body) && Object.keys(body).join() === "error" &&
    typeof error === "object" && error !== null && typeof error.code === "string" && typeof error.message === "string" &&
    (error.field === undefined || typeof error.field === "string") &&
    Object.keys(error).every((k) => k === "code" || k === "message" || k === "field")
  if (!shaped) fail("a 4xx body not of the shape {error:{code,message,field?}}")
  if (!Object.values(CODES).includes(error.code)) fail(`unknown error code ${error.code}`)
  if (CODES[res.status] !== error.code) fail(`code ${error.code} does not fit status ${res.status}`)
}

describe("fuzz: every POST/PATCH/DELETE route answers bad input with a §9 4xx", () => {
  let server: RunningServer
  let fx: Fixture
  let all: ReadonlyArray<Route>
  const statuses: Record<number, number> = {}

  const exchange = async (req: Req) => {
    const res = await send(fx.port, req)
    statuses[res.status] = (statuses[res.status] ?? 0) + 1
    check(req, res)
    return res
  }

  beforeAll(async () => {
    server = await startServer()
    const fast = { rate_limit_per_sec: 1_000_000, burst: 1_000_000 }
    const a = await createTenant(server.url, "fuzzed", fast)
    const b = await createTenant(server.url, "other", fast)
    const v = await createTenant(server.url, "victim", fast)
    const alice = a.api.as("alice")
    const room = await alice.post("/rooms", { type: "group", members: ["bob", "carol"] })
    const channel = await alice.post("/rooms", { type: "channel", members: [] })
    const dm = await alice.post("/rooms", { type: "dm", members: ["bob"] })
    const message = await alice.post(`/rooms/${room.body.room_id}/messages`, { content: "hello" })
    const otherRoom = await b.api.as("alice").post("/rooms", { type: "group", members: ["bob"] })
    const otherMessage = await b.api.as("alice").post(`/rooms/${otherRoom.body.room_id}/messages`, { content: "secret" })
    for (const r of [room, channel, dm, message, otherRoom, otherMessage]) expect(r.status).toBe(201)
    const notification = await a.api.request("POST", "/notify", { body: { topic: "orders", payload: { n: 1 }, targets: { user_ids: ["alice"] } } })
    expect(notification.status).toBe(202)
    fx = {
      port: server.port,
      apiKey: a.apiKey,
      otherApiKey: b.apiKey,
      masterKey: MASTER_KEY,
      roomId: room.body.room_id,
      channelId: channel.body.room_id,
      dmId: dm.body.room_id,
      messageId: message.body.message_id,
      otherRoomId: otherRoom.body.room_id,
      otherMessageId: otherMessage.body.message_id,
      otherTenantId: b.tenantId,
      victimTenantId: v.tenantId,
      notificationId: notification.body.notification_id
    }
    all = routes(fx)
  })

  afterAll(async () => {
    const sent = Object.values(statuses).reduce((a, b) => a + b, 0)
    const defects = server?.logs.filter((line) => line.includes("\"level\":\"error\"")).length
    console.log(`fuzz: ${sent} requests, statuses ${JSON.stringify(statuses)}, ${defects} error log lines on the server`)
    await server?.stop()
  })

  const route = () => fc.constantFrom(...all)

  // First, while alice still owns the fixture room (later properties may remove her from it).
  it("another tenant's room and message ids are simply not found (404)", async () => {
    const [room, msg] = [fx.otherRoomId, fx.otherMessageId]
    const requests: Array<[Route["method"], string, unknown]> = [
      ["PATCH", `/rooms/${room}`, { name: "x" }],
      ["POST", `/rooms/${room}/members`, { user_ids: ["alice"] }],
      ["DELETE", `/rooms/${room}/members/bob`, undefined],
      ["POST", `/rooms/${room}/messages`, { content: "hi" }],
      ["PATCH", `/rooms/${room}/messages/${msg}`, { content: "x" }],
      ["DELETE", `/rooms/${room}/messages/${msg}`, undefined],
      ["PATCH", `/rooms/${fx.roomId}/messages/${msg}`, { content: "x" }],
      ["DELETE", `/rooms/${fx.roomId}/messages/${msg}`, undefined],
      ["POST", "/acks", { room_id: room, seq: 0 }]
    ]
    // In A's own room only a member gets past the membership check to the message lookup.
    const arb = fc.record({ r: fc.constantFrom(...requests), user: fc.constantFrom("alice", "bob", "zed") })
      .map(({ r, user }) => ({ r, user: r[1].startsWith(`/rooms/${fx.roomId}`) ? "alice" : user }))
    await fc.assert(
      fc.asyncProperty(arb, async ({ r: [method, path, body], user }) => {
        const headers = { "x-api-key": fx.apiKey, "x-user-id": user, "content-type": "application/json" }
        const req = { method, path, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) }
        const res = await exchange(req)
        if (res.status !== 404) throw new Error(`expected 404 for a foreign id\n${describeExchange(req, res)}`)
      }),
      { numRuns: 100 }
    )
  })

  it("random JSON, wrong-typed and valid-looking bodies", async () => {
    const arb = route().chain((r) =>
      fc.record({ path: fillPath(fx, r.template), headers: defaultHeaders(fx, r), body: jsonBody(r) }).map((x) => ({ method: r.method, ...x }))
    )
    await fc.assert(fc.asyncProperty(arb, async (req) => void (await exchange(req))), { numRuns: 3000 })
  })

  it("raw non-JSON bodies under any content type", async () => {
    const arb = route().chain((r) =>
      fc.record({ path: fillPath(fx, r.template), headers: defaultHeaders(fx, r), body: rawBody, type: contentType })
        .map(({ type, headers, ...x }) => ({ method: r.method, ...x, headers: { ...headers, "content-type": type } }))
    )
    await fc.assert(fc.asyncProperty(arb, async (req) => void (await exchange(req))), { numRuns: 1500 })
  })

  it("random X-User-Id, Idempotency-Key, X-API-Key and X-Master-Key values", async () => {
    const maybe = fc.option(headerValue, { nil: undefined })
    const keyValue = fc.oneof(headerValue, fc.constantFrom(fx.apiKey, fx.otherApiKey, fx.apiKey + "x", fx.apiKey.slice(0, -1), MASTER_KEY))
    const arb = route().chain((r) =>
      fc.record({
        path: fillPath(fx, r.template),
        body: r.valid.map((v) => JSON.stringify(v)),
        user: maybe,
        idem: maybe,
        key: fc.option(keyValue, { nil: undefined }),
        master: fc.option(keyValue, { nil: undefined })
      }).map(({ body, idem, key, master, path, user }) => {
        const headers: Record<string, string> = { "content-type": "application/json" }
        if (user !== undefined) headers["x-user-id"] = user
        if (idem !== undefined) headers["idempotency-key"] = idem
        if (key !== undefined) headers["x-api-key"] = key
        if (master !== undefined) headers["x-master-key"] = master
        return { method: r.method, path, headers, body }
      })
    )
    await fc.assert(fc.asyncProperty(arb, async (req) => void (await exchange(req))), { numRuns: 2000 })
  })

  it("random path ids: '%00', '..', very long, unicode, malformed escapes, another tenant's ids", async () => {
    const arb = route().filter((r) => r.template.includes(":")).chain((r) =>
      fc.record({
        path: fillPath(fx, r.template, () => hostileSegment(fx)),
        headers: defaultHeaders(fx, r),
        body: r.valid.map((v) => JSON.stringify(v))
      }).map((x) => ({ method: r.method, ...x }))
    )
    await fc.assert(fc.asyncProperty(arb, async (req) => void (await exchange(req))), { numRuns: 2000 })
  })

  // The property's value stays a small recipe, so a counterexample prints short; the body is built from it.
  const big = (kinds: ReadonlyArray<BigKind>, sizes: fc.Arbitrary<number>, numRuns: number) =>
    fc.assert(
      fc.asyncProperty(
        route().filter((r) => r.keys.length > 0).chain((r) => bigRecipe(fx, r, kinds, sizes)),
        async ({ headers, method, path, ...recipe }) => void (await exchange({ method, path, headers, body: bigBody(recipe) }))
      ),
      { numRuns }
    )

  it("huge strings (ASCII and unicode) and long arrays in every field", () =>
    big(["string", "unicode", "array"], fc.oneof(
      fc.integer({ min: 1, max: 20_000 }),
      fc.constantFrom(16_384, 16_385, 300_000, 1_048_000, 1_048_577, 2_000_000)
    ), 150))

  it("deeply nested arrays and objects in every field", () =>
    big(["nested-array", "nested-object"], fc.oneof(fc.integer({ min: 1, max: 20_000 }), fc.constantFrom(100_000, 400_000)), 150))

  it("the server is still alive and healthy", async () => {
    expect(server.process.exitCode).toBeNull()
    expect(server.process.signalCode).toBeNull()
    const res = await fetch(`${server.url}/health`)
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ status: "ok", db_writable: true })
  })
})
