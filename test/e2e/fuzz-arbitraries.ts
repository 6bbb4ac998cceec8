import fc from "fast-check"
import * as http from "node:http"

/** Ids made in beforeAll: tenant A is fuzzed; B's ids must look like unknown ids; V is the admin routes' target. */
export interface Fixture {
  readonly port: number
  readonly apiKey: string
  readonly otherApiKey: string
  readonly masterKey: string
  readonly roomId: string
  readonly channelId: string
  readonly dmId: string
  readonly messageId: string
  readonly otherRoomId: string
  readonly otherMessageId: string
  readonly otherTenantId: string
  readonly victimTenantId: string
  readonly notificationId: string
}

export interface Req {
  readonly method: string
  readonly path: string
  readonly headers: Record<string, string>
  readonly body?: string | Buffer
}

export interface Res {
  readonly status: number
  readonly text: string
}

type Param = "room" | "msg" | "user" | "tenant" | "note" | "topic" | "dead"

export interface Route {
  readonly method: "POST" | "PATCH" | "DELETE"
  readonly template: string
  readonly admin: boolean
  /** The payload's keys (for wrong-typed objects); empty when the route takes no body. */
  readonly keys: ReadonlyArray<string>
  readonly valid: fc.Arbitrary<Record<string, unknown>>
}

const user = fc.constantFrom("alice", "bob", "carol", "dave")
const optional = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined })
const dict = fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 })
const text = fc.string({ unit: "grapheme", maxLength: 40 })
const config = fc.record({
  rate_limit_per_sec: fc.integer({ min: 1, max: 1_000_000 }),
  burst: fc.integer({ min: 1, max: 10_000_000 }),
  max_message_bytes: fc.integer({ min: 1, max: 1_048_576 }),
  webhook_url: fc.constantFrom("https://hooks.example.invalid/hook", "ftp://x", "http://"),
  webhook_secret: fc.string({ minLength: 10, maxLength: 40 })
}, { requiredKeys: [] })

export const routes = (fx: Fixture): ReadonlyArray<Route> => {
  const room = fc.constantFrom(fx.roomId, fx.channelId, fx.dmId)
  const none = fc.constant({})
  const r = (method: Route["method"], template: string, keys: Array<string>, valid: fc.Arbitrary<Record<string, unknown>>) =>
    ({ method, template, admin: template.startsWith("/admin"), keys, valid })
  return [
    r("POST", "/rooms", ["type", "members", "name", "metadata"], fc.record({
      type: fc.constantFrom("dm", "group", "channel"),
      members: fc.array(user, { maxLength: 3 }),
      name: optional(text),
      metadata: optional(dict)
    }, { requiredKeys: ["type", "members"] })),
    r("PATCH", "/rooms/:room", ["name", "metadata"], fc.record({ name: optional(fc.option(text)), metadata: optional(dict) })),
    r("POST", "/rooms/:room/members", ["user_ids", "role"], fc.record({
      user_ids: fc.array(user, { minLength: 1, maxLength: 3 }),
      role: optional(fc.constantFrom("admin", "member"))
    })),
    r("DELETE", "/rooms/:room/members/:user", [], none),
    r("POST", "/rooms/:room/messages", ["content", "meta", "client_msg_id"], fc.record({
      content: text,
      meta: optional(dict),
      client_msg_id: optional(fc.string({ minLength: 1, maxLength: 10 }))
    }, { requiredKeys: ["content"] })),
    r("PATCH", "/rooms/:room/messages/:msg", ["content", "meta"], fc.record({ content: optional(text), meta: optional(dict) })),
    r("DELETE", "/rooms/:room/messages/:msg", [], none),
    r("POST", "/acks", ["room_id", "seq"], fc.record({ room_id: room, seq: fc.nat(5) })),
    r("POST", "/admin/tenants", ["name", "config"], fc.record({ name: text, config: optional(config) }, { requiredKeys: ["name"] })),
    r("PATCH", "/admin/tenants/:tenant", ["name", "config"], fc.record({ name: optional(text), config: optional(config) })),
    r("POST", "/admin/tenants/:tenant/rotate-key", [], none),
    r("POST", "/tokens", ["ttl_seconds"], fc.record({ ttl_seconds: optional(fc.integer({ min: 10, max: 86_400 })) })),
    r("POST", "/notify", ["topic", "payload", "targets"], fc.record({
      topic: fc.constantFrom("orders", "a.b:c-d_e"),
      payload: fc.jsonValue({ maxDepth: 2 }),
      targets: fc.record({ user_ids: optional(fc.array(user, { maxLength: 3 })), room_id: optional(room), topic_subscribers: optional(fc.boolean()) })
    })),
    r("POST", "/notifications/:note/ack", [], none),
    r("POST", "/subscriptions", ["topic"], fc.record({ topic: fc.constantFrom("orders", "news", "a.b:c") })),
    r("DELETE", "/subscriptions/:topic", [], none),
    r("POST", "/admin/dead-letters/:dead/replay", [], none),
    r("POST", "/admin/dead-letters/replay", ["tenant_id", "kind"], fc.record({
      tenant_id: optional(fc.constant(fx.victimTenantId)),
      kind: optional(fc.constantFrom("message", "notification", "webhook"))
    }))
  ]
}

/** Path segments a well-behaved client would send: this tenant's ids (the admin routes only touch V). */
const validParam = (fx: Fixture): Record<Param, fc.Arbitrary<string>> => ({
  room: fc.constantFrom(fx.roomId, fx.channelId, fx.dmId),
  msg: fc.constant(fx.messageId),
  user: user,
  tenant: fc.constant(fx.victimTenantId),
  note: fc.constant(fx.notificationId),
  topic: fc.constantFrom("orders", "news"),
  dead: fc.constant(`dl_${Buffer.from(JSON.stringify(["webhook", fx.victimTenantId, "wh_none"])).toString("base64url")}`)
})

const safeEncode = (s: string) => {
  try {
    return encodeURIComponent(s)
  } catch {
    return "%ED%A0%80" // a lone surrogate, encoded as WTF-8
  }
}

/** Hostile path segments: all of them travel on the wire as node:http sends them (no normalisation of '..'). */
export const hostileSegment = (fx: Fixture): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 2, arbitrary: fc.constantFrom(fx.roomId, fx.channelId, fx.dmId, fx.messageId, "alice") },
    { weight: 3, arbitrary: fc.constantFrom(fx.otherRoomId, fx.otherMessageId, fx.otherTenantId, fx.victimTenantId) },
    {
      weight: 4,
      arbitrary: fc.constantFrom(
        "%00", "..", ".", "%2e%2e", "%2E%2E%2F", "..%2F..%2Fadmin", "%2F", "%5C", "%ZZ", "%", "%E0%A4%A", "%C0%AF",
        "%FF", "%ED%A0%80", "%F0%9F%98%80", "%20", "+", "null", "undefined", "0", "-1", "1e309",
        "a".repeat(129), "a".repeat(5000), "%61".repeat(600), "tn_", "tn_" + "0".repeat(65), "sk_x", "*", "$", ";", "@"
      )
    },
    { weight: 2, arbitrary: fc.string({ unit: "grapheme", maxLength: 30 }).map(safeEncode) },
    { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 20 }).map(safeEncode) },
    { weight: 1, arbitrary: fc.uuid() },
    { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(..."aZ09._-~!$&'()*+,;=:@%"), maxLength: 20 }) }
  )

export const fillPath = (fx: Fixture, template: string, param: (p: Param) => fc.Arbitrary<string> = (p) => validParam(fx)[p]) => {
  const names = (template.match(/:[a-z]+/g) ?? []).map((n) => n.slice(1) as Param)
  return fc.tuple(...names.map(param)).map((values) =>
    names.reduce((path, name, i) => path.replace(`:${name}`, values[i]!), template))
}

/** Characters fetch and node:http accept in a header value: HTAB, visible ASCII, SP and obs-text (latin-1). */
const headerChar = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0x20, max: 0x7e }) },
  { weight: 2, arbitrary: fc.integer({ min: 0x80, max: 0xff }) },
  { weight: 1, arbitrary: fc.constant(0x09) }
).map((c) => String.fromCharCode(c))

export const headerValue = fc.oneof(
  fc.string({ unit: headerChar, maxLength: 40 }),
  fc.string({ unit: headerChar, minLength: 100, maxLength: 2000 }),
  fc.constantFrom("", " ", "alice", "a".repeat(128), "a".repeat(129), "a:b", "a/b", "dm:a:b", "%00", "..", "sk_", "sk_" + "A".repeat(300), "\xe9t\xe9")
)

export const defaultHeaders = (fx: Fixture, route: Route): fc.Arbitrary<Record<string, string>> =>
  route.admin
    ? fc.constant({ "x-master-key": fx.masterKey, "content-type": "application/json" })
    : user.map((u) => ({ "x-api-key": fx.apiKey, "x-user-id": u, "content-type": "application/json" }))

/** An object with the route's keys (and sometimes others), each holding an arbitrary JSON value. */
export const wrongTyped = (keys: ReadonlyArray<string>) => {
  const odd = fc.constantFrom(null, true, 0, -1, 1.5, 1e308, -0, "", " ", [], {}, [null], "x".repeat(300), ["alice", 1])
  const value = fc.oneof(odd, fc.jsonValue({ maxDepth: 3 }), fc.jsonValue({ stringUnit: "binary", maxDepth: 2 }))
  const all = [...keys, "config", "extra", "__proto__", "constructor"]
  return fc.dictionary(fc.constantFrom(...all), value, { maxKeys: all.length })
}

export const jsonBody = (route: Route) =>
  fc.oneof(
    fc.jsonValue(),
    fc.jsonValue({ stringUnit: "grapheme" }),
    wrongTyped(route.keys),
    route.valid
  ).map((v) => JSON.stringify(v))

export const rawBody: fc.Arbitrary<string | Buffer> = fc.oneof(
  fc.string({ unit: "binary", maxLength: 200 }),
  fc.string({ maxLength: 200 }),
  fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
  fc.constantFrom(
    "", "{", "}", "[", "{\"content\":", "nul", "NaN", "Infinity", "-", "1e999", "{'a':1}", "\u0000", "{\"a\":1}garbage",
    "\ufeff{}", "{\"content\":\"x\",\"content\":1}", "{\"__proto__\":{\"type\":\"dm\"},\"members\":[]}",
    "{\"content\":\"x\",\"meta\":{\"__proto__\":{\"polluted\":1}}}", "{\"constructor\":{\"prototype\":{\"x\":1}}}",
    "{\"content\":\"\\ud800\"}", "{\"content\":\"\\u0000\"}", "\"string\"", "123", "true", "null", "[]", "{}"
  )
)

export const contentType = fc.constantFrom(
  "application/json", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
  "application/json; charset=latin1", "", "*/*"
)

export type BigKind = "string" | "unicode" | "array" | "nested-array" | "nested-object"

/** A huge or deep value placed at the top level or in one field of an otherwise valid body. */
export const bigRecipe = (fx: Fixture, r: Route, kinds: ReadonlyArray<BigKind>, sizes: fc.Arbitrary<number>) =>
  fc.record({
    method: fc.constant(r.method),
    path: fillPath(fx, r.template),
    headers: defaultHeaders(fx, r),
    valid: r.valid,
    at: fc.constantFrom("<top>", ...r.keys),
    kind: fc.constantFrom(...kinds),
    size: sizes
  })

export const bigBody = ({ at, kind, size, valid }: { at: string; kind: BigKind; size: number; valid: Record<string, unknown> }) => {
  const value = kind === "string" ? JSON.stringify("x".repeat(size))
    : kind === "unicode" ? JSON.stringify("é😀\u0000".repeat(Math.ceil(size / 4)))
    : kind === "array" ? `[${"\"alice\",".repeat(Math.min(size, 200_000))}"bob"]`
    : kind === "nested-array" ? "[".repeat(size) + "]".repeat(size)
    : "{\"a\":".repeat(size) + "1" + "}".repeat(size)
  return at === "<top>" ? value : JSON.stringify({ ...valid, [at]: "\u0001HOLE" }).replace("\"\\u0001HOLE\"", value)
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 })

/**
 * One request over node:http, which neither normalises '..' nor re-encodes the path. Content-Length is always
 * set: for DELETE node:http would otherwise send the body with neither a length nor chunked framing.
 */
export const send = (port: number, r: Req) =>
  new Promise<Res>((resolve, reject) => {
    const headers = r.body === undefined ? r.headers : { ...r.headers, "content-length": String(Buffer.byteLength(r.body)) }
    const req = http.request({ host: "127.0.0.1", port, agent, method: r.method, path: r.path, headers }, (res) => {
      const chunks: Array<Buffer> = []
      res.on("data", (c: Buffer) => chunks.push(c))
      res.on("end", () => resolve({ status: res.statusCode!, text: Buffer.concat(chunks).toString("utf8") }))
      res.on("error", reject)
    })
    req.on("error", reject)
    req.end(r.body)
  })
