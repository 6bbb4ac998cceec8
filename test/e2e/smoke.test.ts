import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { createTenant, type RunningServer, startServer } from "../support/server.js"

describe("server smoke", () => {
  let server: RunningServer
  beforeAll(async () => {
    server = await startServer()
  })
  afterAll(async () => {
    await server?.stop()
  })

  it("answers health with a real write", async () => {
    const res = await fetch(`${server.url}/health`)
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ status: "ok", db_writable: true })
  })

  it("creates a tenant, a room and a message", async () => {
    const { api } = await createTenant(server.url)
    const room = await api.as("alice").post("/rooms", { type: "group", members: ["bob"] })
    expect(room.status).toBe(201)
    const sent = await api.as("alice").post(`/rooms/${room.body.room_id}/messages`, { content: "hello" })
    expect(sent.status).toBe(201)
    expect(sent.body.seq).toBe(1)
  })
})
