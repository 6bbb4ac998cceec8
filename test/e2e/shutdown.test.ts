import * as http from "node:http"
import { afterAll, describe, expect, it } from "vitest"
import { client, createTenant, type RunningServer, startServer, tempDir } from "../support/server.js"
import { connectWs } from "../support/ws.js"
import { FAST, fullHistory, range, sleep } from "./_helpers.js"

const servers: Array<RunningServer> = []
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop("SIGKILL")))
})

const exited = (server: RunningServer) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    const p = server.process
    if (p.exitCode !== null || p.signalCode !== null) return resolve({ code: p.exitCode, signal: p.signalCode })
    p.once("exit", (code, signal) => resolve({ code, signal }))
  })

/** A send whose body is still arriving: the server holds it in flight until `finish` is called. */
const slowSend = (server: RunningServer, apiKey: string, roomId: string) => {
  const request = http.request(`${server.url}/rooms/${roomId}/messages`, {
    method: "POST",
    headers: { "x-api-key": apiKey, "x-user-id": "ann", "content-type": "application/json", "transfer-encoding": "chunked" }
  })
  const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
    request.on("response", (res) => {
      let body = ""
      res.on("data", (c) => (body += c))
      res.on("end", () => resolve({ status: res.statusCode!, body }))
    })
    request.on("error", reject)
  })
  request.write(`{"content":"in fli`)
  return { response, finish: () => request.end(`ght"}`) }
}

const connectRefused = (port: number) =>
  new Promise<string>((resolve) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/health", agent: false }, (res) => resolve(`answered ${res.statusCode}`))
    req.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message))
  })

describe("graceful shutdown", () => {
  it("tells every socket server.shutdown, refuses new connections, finishes requests in flight, exits 0", async () => {
    const server = await startServer({ env: { SHUTDOWN_DRAIN_TIMEOUT: "5s" } })
    servers.push(server)
    const { apiKey, api } = await createTenant(server.url, "drain", FAST)
    const roomId = (await api.as("ann").post("/rooms", { type: "group", members: ["ben", "cid"] })).body.room_id
    const sockets = await Promise.all(["ann", "ben", "cid"].map((u) => connectWs(server.url, { headers: { "x-api-key": apiKey, "x-user-id": u } })))
    const inFlight = slowSend(server, apiKey, roomId)
    await sleep(200)

    const started = Date.now()
    server.process.kill("SIGTERM")
    const closes = await Promise.all(sockets.map((s) => s.closed))
    expect(closes.map((c) => c.code)).toEqual([1001, 1001, 1001])
    for (const s of sockets) {
      const shutdown = s.frames.filter((f) => f.type === "server.shutdown")
      expect(shutdown).toHaveLength(1)
      expect(shutdown[0]!.reconnect_after_ms).toBeGreaterThan(0)
    }
    expect(await connectRefused(server.port), "no new connection while draining").toBe("ECONNREFUSED")
    expect(server.process.exitCode, "still draining while a request is in flight").toBeNull()

    inFlight.finish()
    const res = await inFlight.response
    expect(res.status).toBe(201)
    const { code } = await exited(server)
    expect(code).toBe(0)
    expect(Date.now() - started).toBeLessThan(5000 + 5000)
    expect(server.logs.some((l) => l.includes("\"msg\":\"drained\""))).toBe(true)
    // The WAL is SQLite's; PostgreSQL has nothing to checkpoint.
    if (process.env.CHATAPI_TEST_STORE !== "postgres") expect(server.logs.some((l) => l.includes("\"msg\":\"wal checkpoint\""))).toBe(true)
  })

  it("loses nothing: every send answered 201 during a SIGTERM is there after the restart, seqs 1..N", async () => {
    const dataDir = tempDir("chatapi-drain-")
    const first = await startServer({ dataDir })
    servers.push(first)
    const { apiKey, api } = await createTenant(first.url, "drain-sends", FAST)
    const roomId = (await api.as("ann").post("/rooms", { type: "group", members: ["ben"] })).body.room_id as string
    const acknowledged = new Map<number, string>()
    let refused = 0
    let stopping: Promise<unknown> | undefined
    await Promise.all(range(1, 300).map((i) =>
      api.as(i % 2 ? "ann" : "ben").post(`/rooms/${roomId}/messages`, { content: `drain ${i}` }).then(
        (res) => {
          if (res.status === 201) acknowledged.set(res.body.seq, res.body.message_id)
          else refused++
          if (acknowledged.size >= 100 && stopping === undefined) stopping = first.stop("SIGTERM", true)
        },
        () => void refused++
      )
    ))
    expect(stopping).toBeDefined()
    await stopping
    expect(first.process.exitCode).toBe(0)
    expect(acknowledged.size + refused).toBe(300)

    const second = await startServer({ dataDir })
    servers.push(second)
    const history = await fullHistory(client(second.url, apiKey), "ben", roomId)
    expect(history.map((m) => m.seq)).toEqual(range(1, history.length))
    const bySeq = new Map(history.map((m) => [m.seq as number, m.message_id as string]))
    for (const [seq, id] of acknowledged) expect(bySeq.get(seq)).toBe(id)
  })

  it("exits at once on a second signal", async () => {
    const server = await startServer({ env: { SHUTDOWN_DRAIN_TIMEOUT: "60s" } })
    servers.push(server)
    const { apiKey, api } = await createTenant(server.url, "twice", FAST)
    const roomId = (await api.as("ann").post("/rooms", { type: "group", members: ["ben"] })).body.room_id
    const inFlight = slowSend(server, apiKey, roomId)
    inFlight.response.catch(() => undefined)
    await sleep(200)
    server.process.kill("SIGTERM")
    await sleep(500)
    expect(server.process.exitCode, "the first signal waits for the request in flight").toBeNull()
    const started = Date.now()
    server.process.kill("SIGTERM")
    const { signal } = await exited(server)
    expect(signal).toBe("SIGTERM")
    expect(Date.now() - started).toBeLessThan(3000)
  })
})
