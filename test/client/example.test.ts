import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { createTenant, runExample, type RunningServer, startServer } from "../support/server.js"

describe("examples/sdk.mjs", () => {
  let server: RunningServer
  beforeAll(async () => {
    server = await startServer()
  })
  afterAll(async () => {
    await server?.stop()
  })

  it("runs a two-user exchange on the SDK against the real server", async () => {
    const { apiKey } = await createTenant(server.url, "sdk-example")
    const run = await runExample("sdk.mjs", { CHATAPI_URL: server.url, CHATAPI_API_KEY: apiKey, CHATAPI_USERS: "ana,ben" })
    expect(run.code, run.output).toBe(0)
    expect(run.output).toMatch(/\[ben\] <- message seq=1 from ana: "hello from ana/)
    expect(run.output).toMatch(/\[ana\] -> stored as seq=1/)
    expect(run.output).toMatch(/\[ana\] <- receipt: ben read up to seq 1/)
    expect(run.output).toMatch(/\[example\] done/)
  })

  it("exits non-zero with a wrong key", async () => {
    const run = await runExample("sdk.mjs", { CHATAPI_URL: server.url, CHATAPI_API_KEY: "sk_wrong" })
    expect(run.code).not.toBe(0)
  })
})
