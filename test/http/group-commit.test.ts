import * as net from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { createTenant, MASTER_KEY, type RunningServer, startServer } from "../support/server.js"
import { parseRaw } from "../support/raw.js"

/** The group commit histogram's `_count` (transactions) and `_sum` (messages), from /metrics. */
const commits = async (server: RunningServer) => {
  const text = await (await fetch(`${server.url}/metrics`, { headers: { "x-master-key": MASTER_KEY } })).text()
  const read = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, "m").exec(text)?.[1] ?? NaN)
  return {
    transactions: read("chatapi_sqlite_group_commit_messages_count"),
    messages: read("chatapi_sqlite_group_commit_messages_sum")
  }
}

/**
 * The requests pipelined on one connection in a single write, so that the server reads them all in
 * one turn of its event loop however busy the machine is; the raw responses, in order.
 */
const atOnce = (port: number, requests: ReadonlyArray<string>) =>
  new Promise<Array<string>>((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.write(requests.join("")))
    let data = ""
    socket.on("data", (chunk) => (data += String(chunk)))
    socket.on("error", reject)
    socket.on("close", () => {
      const answers: Array<string> = []
      while (data.length > 0) {
        const end = data.indexOf("\r\n\r\n") + 4
        const length = Number(/content-length: (\d+)/i.exec(data.slice(0, end))?.[1] ?? 0)
        answers.push(data.slice(0, end + length))
        data = data.slice(end + length)
      }
      resolve(answers)
    })
  })

describe("group commit (SQLite)", () => {
  let server: RunningServer
  beforeAll(async () => {
    server = await startServer()
  })
  afterAll(async () => {
    await server?.stop()
  })

  it("stores sends that arrive together in fewer transactions than messages, each with its own seq", async () => {
    const { apiKey, api } = await createTenant(server.url, "batched")
    const roomId = (await api.as("ann").post("/rooms", { type: "group", members: ["ben"] })).body.room_id
    const before = await commits(server)
    const n = 24
    const requests = Array.from({ length: n }, (_, i) => {
      const body = JSON.stringify({ content: `m${i}` })
      return `POST /rooms/${roomId}/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: ${apiKey}\r\nX-User-Id: ann\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `Connection: ${i === n - 1 ? "close" : "keep-alive"}\r\n\r\n${body}`
    })
    const answers = (await atOnce(server.port, requests)).map(parseRaw)
    expect(answers.map((a) => a.status)).toEqual(Array(n).fill(201))
    expect(answers.map((a) => a.body.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i + 1))
    const after = await commits(server)
    expect(after.messages - before.messages).toBe(n)
    // One transaction per message is what the group commit is there to avoid.
    expect(after.transactions - before.transactions).toBeLessThan(n)
    expect(after.transactions - before.transactions).toBeGreaterThanOrEqual(1)
    const history = (await api.as("ben").get(`/rooms/${roomId}/messages?limit=100`)).body.messages
    expect(history.map((m: { seq: number }) => m.seq)).toEqual(Array.from({ length: n }, (_, i) => i + 1))
  })
})
