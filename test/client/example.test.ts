import { spawn } from "node:child_process"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { createTenant, root, type RunningServer, startServer } from "../support/server.js"

const runExample = (env: Record<string, string>) =>
  new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = spawn(process.execPath, [path.join(root, "examples", "sdk.mjs")], {
      cwd: root,
      env: { ...process.env, CHATAPI_TIMEOUT_MS: "20000", ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    child.stdout.on("data", (d) => (output += String(d)))
    child.stderr.on("data", (d) => (output += String(d)))
    child.on("exit", (code) => resolve({ code, output }))
  })

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
    const run = await runExample({ CHATAPI_URL: server.url, CHATAPI_API_KEY: apiKey, CHATAPI_USERS: "ana,ben" })
    expect(run.code, run.output).toBe(0)
    expect(run.output).toMatch(/\[ben\] <- message seq=1 from ana: "hello from ana/)
    expect(run.output).toMatch(/\[ana\] -> stored as seq=1/)
    expect(run.output).toMatch(/\[ana\] <- receipt: ben read up to seq 1/)
    expect(run.output).toMatch(/\[example\] done/)
  })

  it("exits non-zero with a wrong key", async () => {
    const run = await runExample({ CHATAPI_URL: server.url, CHATAPI_API_KEY: "sk_wrong" })
    expect(run.code).not.toBe(0)
  })
})
