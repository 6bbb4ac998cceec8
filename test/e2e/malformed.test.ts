import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { rawRequest } from "../support/raw.js"
import { type RunningServer, startServer } from "../support/server.js"

describe("requests Node's HTTP parser refuses", () => {
  let server: RunningServer
  beforeAll(async () => {
    server = await startServer()
  })
  afterAll(async () => {
    await server?.stop()
  })

  it.each([
    ["a non-numeric Content-Length", Buffer.from("POST /rooms HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")],
    ["a raw 0xff byte in the path", Buffer.concat([Buffer.from("GET /rooms/"), Buffer.from([0xff]), Buffer.from(" HTTP/1.1\r\nHost: x\r\n\r\n")])]
  ])("answer %s with 400 and the error body", async (_, bytes) => {
    const response = await rawRequest(server.port, bytes)
    expect(response).toMatch(/^HTTP\/1\.1 400 /)
    const body = JSON.parse(response.slice(response.indexOf("\r\n\r\n") + 4))
    expect(body).toEqual({ error: { code: "VALIDATION_ERROR", message: "malformed HTTP request" } })
    expect((await fetch(`${server.url}/health`)).status).toBe(200)
  })
})
