import { afterAll, describe, expect, it } from "vitest"
import { client, createTenant, type RunningServer, startServer, tempDir } from "../support/server.js"
import { FAST, fullHistory, range } from "./_helpers.js"

const servers: Array<RunningServer> = []
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop("SIGKILL")))
})

interface Sent {
  readonly message_id: string
  readonly seq: number
}

describe("SIGKILL durability", () => {
  it("every send answered 201 before a SIGKILL survives the restart, with seqs 1..N and no gap", async () => {
    const dataDir = tempDir("chatapi-crash-")
    const first = await startServer({ dataDir })
    servers.push(first)
    const { apiKey, api } = await createTenant(first.url, "crash", FAST)
    const created = await api.as("alice").post("/rooms", { type: "group", members: ["bob"] })
    expect(created.status).toBe(201)
    const roomId = created.body.room_id as string

    const acknowledged: Array<Sent> = []
    let failed = 0
    let killed: Promise<number | null> | undefined
    const sends = range(1, 300).map((i) =>
      api.as(i % 2 ? "alice" : "bob").post(`/rooms/${roomId}/messages`, { content: `crash ${i}` }).then(
        (res) => {
          if (res.status === 201) {
            acknowledged.push({ message_id: res.body.message_id, seq: res.body.seq })
            if (acknowledged.length >= 100 && killed === undefined) killed = first.stop("SIGKILL")
          } else {
            failed++
          }
        },
        () => {
          failed++ // the connection died with the server
        }
      )
    )
    await Promise.all(sends)
    expect(killed).toBeDefined()
    await killed
    expect(first.process.signalCode).toBe("SIGKILL")
    expect(acknowledged.length).toBeGreaterThanOrEqual(100)
    expect(acknowledged.length + failed).toBe(300)

    const second = await startServer({ dataDir })
    servers.push(second)
    const again = client(second.url, apiKey)
    expect((await fetch(`${second.url}/health`)).status).toBe(200)
    const history = await fullHistory(again, "bob", roomId)
    const n = history.length
    expect(n).toBeGreaterThanOrEqual(acknowledged.length)
    expect(history.map((m) => m.seq)).toEqual(range(1, n))
    expect(new Set(history.map((m) => m.message_id)).size).toBe(n)
    const bySeq = new Map(history.map((m) => [m.seq as number, m.message_id as string]))
    for (const sent of acknowledged) expect({ seq: sent.seq, id: bySeq.get(sent.seq) }).toEqual({ seq: sent.seq, id: sent.message_id })

    const room = await again.as("alice").get(`/rooms/${roomId}`)
    expect(room.body.last_seq).toBe(n)
    const next = await again.as("alice").post(`/rooms/${roomId}/messages`, { content: "after the crash" })
    expect(next.status).toBe(201)
    expect(next.body.seq).toBe(n + 1)
  })
})
