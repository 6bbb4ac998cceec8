import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { createTenant, type RunningServer, startServer } from "../support/server.js"
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
