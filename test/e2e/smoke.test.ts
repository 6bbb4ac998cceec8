import * as http from "node:http"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { createTenant, type RunningServer, startServer } from "../support/server.js"

/** One GET over `agent`; whether it went over a connection used before, and its status. */
const get = (agent: http.Agent, url: string) =>
  new Promise<{ status: number; reused: boolean }>((resolve, reject) => {
    const req = http.get(url, { agent }, (res) => {
      res.resume()
      res.on("end", () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }))
    })
    req.on("error", reject)
  })

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

  it("keeps an idle keep-alive connection open well past Node's default of 5 s, so a client reusing it gets an answer, not a reset", async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    try {
      expect(await get(agent, `${server.url}/health`)).toEqual({ status: 200, reused: false })
      await new Promise((r) => setTimeout(r, 6_500))
      expect(await get(agent, `${server.url}/health`)).toEqual({ status: 200, reused: true })
    } finally {
      agent.destroy()
    }
  })
})
