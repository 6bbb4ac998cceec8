import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { createTenant, type RunningServer, startServer } from "../support/server.js"
import { parseRaw, rawRequest } from "../support/raw.js"
import { connectWs } from "../support/ws.js"
import { FAST } from "./_helpers.js"

describe("WebSocket limits and isolation", () => {
  let server: RunningServer
  beforeAll(async () => {
    server = await startServer({ env: { MAX_CONNECTIONS_PER_USER: "2", MAX_FRAME_BYTES: "2048" } })
  })
  afterAll(async () => {
    await server?.stop()
  })

  it("caps connections per user", async () => {
    const { apiKey } = await createTenant(server.url, "cap", FAST)
    const headers = { "x-api-key": apiKey, "x-user-id": "many" }
    const open = [await connectWs(server.url, { headers }), await connectWs(server.url, { headers })]
    await expect(connectWs(server.url, { headers })).rejects.toMatchObject({ status: 429 })
    await open[0]!.close()
    await new Promise((r) => setTimeout(r, 100))
    const again = await connectWs(server.url, { headers })
    await Promise.all([open[1]!.close(), again.close()])
  })

  it("answers a plain GET and a broken handshake with the error body, and a refused handshake holds no place", async () => {
    const { apiKey } = await createTenant(server.url, "handshakes", FAST)
    const plain = await fetch(`${server.url}/ws`, { headers: { "x-api-key": apiKey, "x-user-id": "hal" } })
    expect(plain.status).toBe(400)
    expect(((await plain.json()) as { error: unknown }).error).toMatchObject({ code: "VALIDATION_ERROR" })
    const handshake = (version: string) =>
      `GET /ws?api_key=${apiKey}&user_id=hal HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
      `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: ${version}\r\n\r\n`
    for (const version of ["7", "13x", ""]) {
      const refused = parseRaw(await rawRequest(server.port, handshake(version)))
      expect(refused).toEqual({ status: 400, body: { error: { code: "VALIDATION_ERROR", message: "Sec-WebSocket-Version must be 13" } } })
    }
    const noKey = parseRaw(await rawRequest(server.port, handshake("13").replace(/Sec-WebSocket-Key: .*\r\n/, "")))
    expect(noKey).toMatchObject({ status: 400, body: { error: { code: "VALIDATION_ERROR" } } })
    const badKey = parseRaw(await rawRequest(server.port, `GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`))
    expect(badKey).toMatchObject({ status: 400, body: { error: { code: "VALIDATION_ERROR" } } })
    // Refused by the WebSocket library after the credentials were checked and a place taken: the place is given back.
    for (let i = 0; i < 3; i++) {
      const response = await rawRequest(server.port, handshake("13").replace("\r\n\r\n", "\r\nSec-WebSocket-Protocol: a,,b\r\n\r\n"))
      expect(response).toMatch(/^HTTP\/1\.1 400 /)
    }
    // The cap is 2: both places are free.
    const headers = { "x-api-key": apiKey, "x-user-id": "hal" }
    const open = [await connectWs(server.url, { headers }), await connectWs(server.url, { headers })]
    await Promise.all(open.map((c) => c.close()))
  })

  it("closes with 1008 a client whose frames arrive faster than they are handled, and stays up", async () => {
    const tenant = await createTenant(server.url, "flood", FAST)
    const room = (await tenant.api.as("flo").post("/rooms", { type: "group", members: [] })).body.room_id
    const headers = { "x-api-key": tenant.apiKey, "x-user-id": "flo" }
    const flooder = await connectWs(server.url, { headers })
    // 2,000 sends in one write (masked with a zero key, as a client must mask); each waits for its commit,
    // so they pile up far past what is held for one socket.
    const frame = (text: string) => Buffer.concat([Buffer.from([0x81, 0xfe, Buffer.byteLength(text) >> 8, Buffer.byteLength(text) & 0xff, 0, 0, 0, 0]), Buffer.from(text)])
    const burst = Buffer.concat(Array.from({ length: 2000 }, (_, i) => frame(JSON.stringify({ type: "send_message", room_id: room, content: `m${i}`, request_id: `s${i}` }))))
    ;(flooder.socket as unknown as { _socket: { write(b: Buffer): void } })._socket.write(burst)
    expect(await flooder.closed).toEqual({ code: 1008, reason: "policy violation" })
    const sent = flooder.frames.filter((f) => f.type === "message.sent").length
    expect(sent).toBeLessThan(2000)
    // Every send answered is stored, in the order sent and gap-free; the server takes new sockets.
    const stored: Array<{ seq: number; content: string }> = []
    for (let more = true; more;) {
      const page = await tenant.api.as("flo").get(`/rooms/${room}/messages?after_seq=${stored.length}&limit=100`)
      stored.push(...page.body.messages)
      more = page.body.has_more
    }
    expect(stored.length).toBeGreaterThanOrEqual(sent)
    expect(stored.map((m) => m.seq)).toEqual(stored.map((_, i) => i + 1))
    expect(stored.map((m) => m.content)).toEqual(stored.map((_, i) => `m${i}`))
    const after = await connectWs(server.url, { headers })
    after.send({ type: "ping", request_id: "after" })
    await after.waitFor((f) => f.type === "pong" && f.request_id === "after")
    await after.close()
  })

  it("spends the tenant's rate-limit tokens on WS sends and answers RATE_LIMIT_EXCEEDED", async () => {
    const tenant = await createTenant(server.url, "limited", { rate_limit_per_sec: 1, burst: 3 })
    const room = (await tenant.api.as("ray").post("/rooms", { type: "group", members: [] })).body.room_id
    const ray = await connectWs(server.url, { headers: { "x-api-key": tenant.apiKey, "x-user-id": "ray" } })
    for (const i of [1, 2, 3]) ray.send({ type: "send_message", room_id: room, content: `m${i}`, request_id: `r${i}` })
    const [refused] = await ray.waitFor((f) => f.type === "error")
    expect(refused).toMatchObject({ code: "RATE_LIMIT_EXCEEDED" })
    // The bucket held 3 tokens: POST /rooms took one, two sends took the rest.
    expect(ray.frames.filter((f) => f.type === "message.sent").map((f) => f.request_id)).toEqual(["r1", "r2"])
    expect(refused!.request_id).toBe("r3")
    await ray.close()
  })

  it("answers an oversized frame with PAYLOAD_TOO_LARGE and stays up", async () => {
    const tenant = await createTenant(server.url, "frames", FAST)
    const sue = await connectWs(server.url, { headers: { "x-api-key": tenant.apiKey, "x-user-id": "sue" } })
    sue.send({ type: "ping", request_id: "x".repeat(3000) })
    expect((await sue.waitFor((f) => f.type === "error"))[0]).toMatchObject({ code: "PAYLOAD_TOO_LARGE" })
    sue.send({ type: "ping", request_id: "ok" })
    await sue.waitFor((f) => f.type === "pong")
    await sue.close()
  })

  it("treats another tenant's room exactly like an unknown room", async () => {
    const a = await createTenant(server.url, "a", FAST)
    const b = await createTenant(server.url, "b", FAST)
    const room = (await a.api.as("ann").post("/rooms", { type: "channel", members: [] })).body.room_id
    const intruder = await connectWs(server.url, { headers: { "x-api-key": b.apiKey, "x-user-id": "ann" } })
    const probes = ["send_message", "subscribe", "typing.start"] as const
    for (const [i, type] of probes.entries()) {
      intruder.send({ type, room_id: room, content: "hi", request_id: `foreign${i}` })
      intruder.send({ type, room_id: "00000000-0000-0000-0000-000000000000", content: "hi", request_id: `missing${i}` })
    }
    intruder.send({ type: "ack", room_id: room, seq: 1, request_id: "foreign-ack" })
    intruder.send({ type: "ack", room_id: "nope", seq: 1, request_id: "missing-ack" })
    const errors = await intruder.waitFor((f) => f.type === "error", 8)
    const by = (id: string) => errors.find((e) => e.request_id === id)
    for (const suffix of ["0", "1", "2", "-ack"]) {
      const foreign = by(`foreign${suffix}`)!
      const missing = by(`missing${suffix}`)!
      expect(foreign.code).toBe("NOT_FOUND")
      expect({ code: foreign.code, message: foreign.message }).toEqual({ code: missing.code, message: missing.message })
    }
    await intruder.close()
  })
})
