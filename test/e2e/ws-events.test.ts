import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { createTenant, type RunningServer, startServer } from "../support/server.js"
import { connectWs, type Frame } from "../support/ws.js"
import { FAST, range } from "./_helpers.js"

const isMessage = (roomId: string) => (f: Frame) => f.type === "message" && f.room_id === roomId

describe("WebSocket events and flow control", () => {
  let server: RunningServer
  let tenant: Awaited<ReturnType<typeof createTenant>>
  beforeAll(async () => {
    server = await startServer({ env: { WS_SEND_QUEUE: "16" } })
    tenant = await createTenant(server.url, "events", FAST)
  })
  afterAll(async () => {
    await server?.stop()
  })
  const asUser = (user: string) => ({ headers: { "x-api-key": tenant.apiKey, "x-user-id": user } })

  it("broadcasts edits, deletes, read receipts and typing to the room", async () => {
    const room = (await tenant.api.as("kim").post("/rooms", { type: "group", members: ["lee"] })).body.room_id as string
    const kim = await connectWs(server.url, asUser("kim"))
    const lee = await connectWs(server.url, asUser("lee"))
    const sent = await tenant.api.as("kim").post(`/rooms/${room}/messages`, { content: "first" })
    await lee.waitFor(isMessage(room))
    await tenant.api.as("kim").patch(`/rooms/${room}/messages/${sent.body.message_id}`, { content: "edited" })
    const [updated] = await lee.waitFor((f) => f.type === "message.updated")
    expect(updated).toMatchObject({ room_id: room, seq: 1, content: "edited" })
    await tenant.api.as("kim").del(`/rooms/${room}/messages/${sent.body.message_id}`)
    expect((await lee.waitFor((f) => f.type === "message.deleted"))[0]).toMatchObject({ seq: 1, message_id: sent.body.message_id })

    lee.send({ type: "ack", room_id: room, seq: 1 })
    expect((await kim.waitFor((f) => f.type === "ack.received"))[0]).toEqual({ type: "ack.received", room_id: room, seq: 1, user_id: "lee" })
    lee.send({ type: "typing.start", room_id: room })
    expect((await kim.waitFor((f) => f.type === "typing"))[0]).toEqual({ type: "typing", room_id: room, user_id: "lee", action: "start" })
    expect(lee.frames.some((f) => f.type === "typing" || f.type === "ack.received")).toBe(false)
    await Promise.all([kim.close(), lee.close()])
  })

  it("follows rooms joined after connecting, and channels by subscription", async () => {
    const mia = await connectWs(server.url, asUser("mia"))
    const room = (await tenant.api.as("ned").post("/rooms", { type: "group", members: ["mia"] })).body.room_id as string
    await tenant.api.as("ned").post(`/rooms/${room}/messages`, { content: "welcome" })
    expect((await mia.waitFor(isMessage(room)))[0]).toMatchObject({ seq: 1, content: "welcome" })

    const channel = (await tenant.api.as("ned").post("/rooms", { type: "channel", members: [] })).body.room_id as string
    mia.send({ type: "subscribe", room_id: channel, request_id: "s" })
    mia.send({ type: "ping", request_id: "sync-point" })
    await mia.waitFor((f) => f.type === "pong")
    await tenant.api.as("ned").post(`/rooms/${channel}/messages`, { content: "broadcast" })
    expect((await mia.waitFor(isMessage(channel)))[0]).toMatchObject({ content: "broadcast" })
    await mia.close()
  })

  it("closes a consumer too slow to drain with 1013, and reconnect sync delivers everything", async () => {
    const room = (await tenant.api.as("oli").post("/rooms", { type: "group", members: ["pat"] })).body.room_id as string
    const pat = await connectWs(server.url, asUser("pat"))
    const raw = (pat.socket as unknown as { _socket: import("node:net").Socket })._socket
    raw.pause()
    const content = "x".repeat(8000)
    for (const batch of range(0, 29)) {
      await Promise.all(range(1, 20).map((i) => tenant.api.as("oli").post(`/rooms/${room}/messages`, { content: `${batch * 20 + i} ${content}` })))
    }
    raw.resume()
    const closed = await pat.closed
    expect(closed.code).toBe(1013)
    const received = pat.frames.filter(isMessage(room)).map((f) => f.seq)
    expect(received.length).toBeLessThan(600)
    expect(received).toEqual(range(1, received.length))

    const again = await connectWs(server.url, asUser("pat"))
    await again.waitFor(isMessage(room), 600, 20_000)
    expect(again.frames.filter(isMessage(room)).map((f) => f.seq)).toEqual(range(1, 600))
    await again.close()
  })
})
