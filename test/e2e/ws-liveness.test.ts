import type { Socket } from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { createTenant, type RunningServer, startServer } from "../support/server.js"
import { connectWs, type WsClient } from "../support/ws.js"
import { FAST, sleep } from "./_helpers.js"

const rawSocket = (client: WsClient) => (client.socket as unknown as { _socket: Socket })._socket

describe("presence, typing expiry and heartbeat", () => {
  let server: RunningServer
  let tenant: Awaited<ReturnType<typeof createTenant>>
  beforeAll(async () => {
    server = await startServer({
      env: { PRESENCE_GRACE: "400ms", TYPING_TIMEOUT: "300ms", HEARTBEAT_INTERVAL: "100ms", HEARTBEAT_TIMEOUT: "500ms" }
    })
    tenant = await createTenant(server.url, "liveness", FAST)
  })
  afterAll(async () => {
    await server?.stop()
  })
  const asUser = (user: string) => ({ headers: { "x-api-key": tenant.apiKey, "x-user-id": user } })

  it("announces online to users sharing a room, skips the flap of a quick reconnect, then goes offline after the grace", async () => {
    await tenant.api.as("amy").post("/rooms", { type: "group", members: ["bo"] })
    await tenant.api.as("amy").post("/rooms", { type: "group", members: ["bo"] })
    const stranger = await connectWs(server.url, asUser("zoe"))
    const amy = await connectWs(server.url, asUser("amy"))
    const bo = await connectWs(server.url, asUser("bo"))
    const presence = () => amy.frames.filter((f) => f.type === "presence.update" && f.user_id === "bo")
    await amy.waitFor((f) => f.type === "presence.update" && f.user_id === "bo" && f.status === "online")
    await bo.close()
    const back = await connectWs(server.url, asUser("bo"))
    await sleep(600)
    expect(presence().map((f) => f.status), "one event despite two shared rooms, no offline flap").toEqual(["online"])
    await back.close()
    await amy.waitFor((f) => f.type === "presence.update" && f.user_id === "bo" && f.status === "offline")
    expect(presence().map((f) => f.status)).toEqual(["online", "offline"])
    expect(stranger.frames.some((f) => f.type === "presence.update" && f.user_id === "bo")).toBe(false)
    await Promise.all([amy.close(), stranger.close()])
  })

  it("stops typing by itself after the timeout", async () => {
    const room = (await tenant.api.as("cy").post("/rooms", { type: "group", members: ["di"] })).body.room_id
    const cy = await connectWs(server.url, asUser("cy"))
    const di = await connectWs(server.url, asUser("di"))
    cy.send({ type: "typing.start", room_id: room })
    const started = Date.now()
    await di.waitFor((f) => f.type === "typing" && f.action === "stop")
    expect(Date.now() - started).toBeGreaterThanOrEqual(250)
    expect(di.frames.filter((f) => f.type === "typing").map((f) => f.action)).toEqual(["start", "stop"])
    await Promise.all([cy.close(), di.close()])
  })

  it("keeps a client that answers pings, and drops one that has gone silent", async () => {
    const alive = await connectWs(server.url, asUser("ed"))
    const silent = await connectWs(server.url, asUser("flo"))
    let pings = 0
    alive.socket.on("ping", () => pings++)
    rawSocket(silent).pause()
    await sleep(1200)
    expect(pings).toBeGreaterThan(3)
    expect(alive.socket.readyState).toBe(alive.socket.OPEN)
    rawSocket(silent).resume()
    const closed = await silent.closed
    expect(closed.code).toBe(1006)
    await alive.close()
  })
})
