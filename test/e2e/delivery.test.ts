import { createRequire } from "node:module"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { createTenant, MASTER_KEY, type RunningServer, startServer } from "../support/server.js"
import { connectWs } from "../support/ws.js"
import { FAST, sleep } from "./_helpers.js"

const Database = createRequire(import.meta.url)("better-sqlite3") as new (file: string, options: { readonly: boolean }) => {
  prepare(sql: string): { all(...params: Array<unknown>): Array<Record<string, unknown>> }
  close(): void
}

describe("delivery queue and retry worker", () => {
  let server: RunningServer
  let tenant: Awaited<ReturnType<typeof createTenant>>
  const queued = (roomId: string) => {
    const db = new Database(path.join(server.dataDir, "chatapi.db"), { readonly: true })
    try {
      return db.prepare("SELECT user_id, from_seq, attempts, status FROM undelivered_messages WHERE room_id = ? ORDER BY user_id").all(roomId)
    } finally {
      db.close()
    }
  }
  beforeAll(async () => {
    server = await startServer({ env: { WORKER_INTERVAL: "100ms", RETRY_INTERVAL: "100ms" } })
    tenant = await createTenant(server.url, "delivery", { ...FAST, retry_max_attempts: 3 })
  })
  afterAll(async () => {
    await server?.stop()
  })

  it("queues one entry per member who falls behind, not one per message, and purges it once acked", async () => {
    const room = (await tenant.api.as("al").post("/rooms", { type: "group", members: ["bea", "cal"] })).body.room_id
    const al = await connectWs(server.url, { headers: { "x-api-key": tenant.apiKey, "x-user-id": "al" } })
    for (let i = 0; i < 5; i++) await tenant.api.as("al").post(`/rooms/${room}/messages`, { content: `m${i}` })
    await sleep(400)
    expect(queued(room).map((r) => [r.user_id, r.from_seq, r.status])).toEqual([["bea", 1, "pending"], ["cal", 1, "pending"]])
    expect(queued(room).every((r) => r.attempts === 0), "offline users are not attempted").toBe(true)

    await tenant.api.as("bea").post("/acks", { room_id: room, seq: 5 })
    await sleep(400)
    expect(queued(room).map((r) => r.user_id)).toEqual(["cal"])
    await al.close()
  })

  it("retries a connected member who never acks, then dead-letters after the tenant's maximum", async () => {
    const room = (await tenant.api.as("dee").post("/rooms", { type: "group", members: ["eli"] })).body.room_id
    await tenant.api.as("dee").post(`/rooms/${room}/messages`, { content: "unread" })
    await sleep(300)
    const eli = await connectWs(server.url, { headers: { "x-api-key": tenant.apiKey, "x-user-id": "eli" } })
    await eli.waitFor((f) => f.type === "message" && f.room_id === room)
    let dead: Array<Record<string, unknown>> = []
    for (let i = 0; i < 40 && dead.length === 0; i++) {
      await sleep(100)
      const res = await fetch(`${server.url}/admin/dead-letters?tenant_id=${tenant.tenantId}`, { headers: { "x-master-key": MASTER_KEY } })
      expect(res.status).toBe(200)
      dead = ((await res.json()) as { dead_letters: Array<Record<string, unknown>> }).dead_letters.filter((d) => d.room_id === room)
    }
    expect(dead).toHaveLength(1)
    expect(dead[0]).toMatchObject({ kind: "message", user_id: "eli", from_seq: 1, attempts: 3 })
    expect(eli.frames.filter((f) => f.type === "message" && f.room_id === room), "a retry re-sends nothing already sent").toHaveLength(1)
    await eli.close()
  })
})
