import * as http from "node:http"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type RunningServer, startServer } from "../support/server.js"

/** One GET over `agent`; whether it went over a connection used before, and its status. */
const get = (agent: http.Agent, url: string) =>
  new Promise<{ status: number; reused: boolean }>((resolve, reject) => {
    const req = http.get(url, { agent }, (res) => {
      res.resume()
      res.on("end", () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }))
    })
    req.on("error", reject)
  })

describe("keep-alive connections", () => {
  let server: RunningServer
  beforeAll(async () => {
    server = await startServer()
  })
  afterAll(async () => {
    await server?.stop()
  })

  it("are kept open well past Node's default of 5 s, so a client reusing one gets an answer, not a reset", async () => {
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
