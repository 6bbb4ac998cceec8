import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { createDatabase, dropDatabase, dsnOf, onPostgres } from "../support/postgres.js"
import { client, createTenant, MASTER_KEY, type Response, type RunningServer, startServer } from "../support/server.js"
import { connectWs } from "../support/ws.js"
import { loadMigrations, migrationsDir } from "../../src/db/Migrator.js"
import { FAST, fullHistory, range, sleep } from "./_helpers.js"

/** No answer and no log line of a server may show a server error. */
const expectNo5xx = (responses: ReadonlyArray<Response>, server: RunningServer) => {
  expect(responses.map((r) => r.status).filter((s) => s >= 500)).toEqual([])
  const failures = server.logs.filter((line) => /"level":"(error|fatal)"/.test(line) || /"status":5\d\d/.test(line))
  expect(failures).toEqual([])
}

describe.runIf(onPostgres)("PostgreSQL store under concurrency", () => {
  let server: RunningServer
  let tenant: Awaited<ReturnType<typeof createTenant>>
  beforeAll(async () => {
    server = await startServer({ env: { WORKER_INTERVAL: "100ms", RETRY_INTERVAL: "100ms" } })
    tenant = await createTenant(server.url, "pg", { ...FAST, retry_max_attempts: 3 })
  })
  afterAll(async () => {
    await server?.stop()
  })

  it("300 concurrent sends from several users into one room get seqs exactly 1..300", async () => {
    const users = ["ann", "ben", "cat", "dan", "eve"]
    const created = await tenant.api.as("ann").post("/rooms", { type: "group", members: users })
    expect(created.status).toBe(201)
    const roomId = created.body.room_id as string
    const sent = await Promise.all(
      range(1, 300).map((i) => tenant.api.as(users[i % users.length]!).post(`/rooms/${roomId}/messages`, { content: `m${i}` }))
    )
    expectNo5xx(sent, server)
    expect(sent.map((r) => r.status)).toEqual(sent.map(() => 201))
    expect(sent.map((r) => r.body.seq as number).sort((a, b) => a - b)).toEqual(range(1, 300))
    const history = await fullHistory(tenant.api, "ben", roomId)
    expect(history.map((m) => m.seq)).toEqual(range(1, 300))
    expect(new Set(history.map((m) => m.message_id)).size).toBe(300)
    expect((await tenant.api.as("cat").get(`/rooms/${roomId}`)).body.last_seq).toBe(300)
  })

  it("10 concurrent sends with one Idempotency-Key store one message, and the next send takes the next seq", async () => {
    const created = await tenant.api.as("fay").post("/rooms", { type: "group", members: ["gus"] })
    const roomId = created.body.room_id as string
    const sent = await Promise.all(
      range(1, 10).map(() => tenant.api.as("fay").post(`/rooms/${roomId}/messages`, { content: "once" }, { "idempotency-key": "retry-1" }))
    )
    expectNo5xx(sent, server)
    expect(sent.every((r) => r.status === 201 || r.status === 200)).toBe(true)
    expect(new Set(sent.map((r) => r.body.message_id)).size).toBe(1)
    expect(sent.map((r) => r.body.seq)).toEqual(sent.map(() => 1))
    const next = await tenant.api.as("gus").post(`/rooms/${roomId}/messages`, { content: "after" })
    expect(next.body.seq).toBe(2)
    expect((await fullHistory(tenant.api, "gus", roomId)).map((m) => [m.seq, m.content])).toEqual([[1, "once"], [2, "after"]])
  })

  it("10 concurrent creations of one DM, from either side, give one room: one 201, nine 200", async () => {
    const created = await Promise.all(
      range(1, 10).map((i) => i % 2 ? tenant.api.as("hal").post("/rooms", { type: "dm", members: ["ivy"] }) : tenant.api.as("ivy").post("/rooms", { type: "dm", members: ["hal"] }))
    )
    expectNo5xx(created, server)
    expect(created.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 201])
    expect(new Set(created.map((r) => r.body.room_id)).size).toBe(1)
    const listed = await tenant.api.as("hal").get("/rooms")
    expect(listed.body.rooms.filter((r: { type: string }) => r.type === "dm")).toHaveLength(1)
    const members = await tenant.api.as("ivy").get(`/rooms/${created[0]!.body.room_id}/members`)
    expect(members.body.members.map((m: { user_id: string }) => m.user_id).sort()).toEqual(["hal", "ivy"])
  })

  it("the retry worker reads seqs as numbers: a member acked up to 9 of 10 is retried from 10, then dead-lettered", async () => {
    const roomId = (await tenant.api.as("jon").post("/rooms", { type: "group", members: ["kim"] })).body.room_id as string
    for (const i of range(1, 9)) await tenant.api.as("jon").post(`/rooms/${roomId}/messages`, { content: `m${i}` })
    expect((await tenant.api.as("kim").post("/acks", { room_id: roomId, seq: 9 })).status).toBeLessThan(300)
    await sleep(400)
    await tenant.api.as("jon").post(`/rooms/${roomId}/messages`, { content: "m10" })
    await sleep(400)
    const kim = await connectWs(server.url, { headers: { "x-api-key": tenant.apiKey, "x-user-id": "kim" } })
    let dead: Array<Record<string, unknown>> = []
    for (let i = 0; i < 50 && dead.length === 0; i++) {
      await sleep(100)
      const res = await fetch(`${server.url}/admin/dead-letters?tenant_id=${tenant.tenantId}`, { headers: { "x-master-key": MASTER_KEY } })
      dead = ((await res.json()) as { dead_letters: Array<Record<string, unknown>> }).dead_letters.filter((d) => d.room_id === roomId)
    }
    expect(dead).toHaveLength(1)
    expect(dead[0]).toMatchObject({ kind: "message", user_id: "kim", from_seq: 10, attempts: 3 })
    await kim.close()
    expectNo5xx([], server)
  })
})

describe.runIf(onPostgres)("PostgreSQL migrations", () => {
  it("three servers starting at once on one empty database migrate it once", async () => {
    const database = await createDatabase()
    const servers: Array<RunningServer> = []
    try {
      servers.push(...await Promise.all(range(1, 3).map(() => startServer({ env: { DATABASE_DSN: dsnOf(database) } }))))
      const { apiKey } = await createTenant(servers[0]!.url, "shared", FAST)
      const res = await client(servers[2]!.url, apiKey).as("al").post("/rooms", { type: "group", members: ["bo"] })
      expect(res.status).toBe(201)
      for (const s of servers) {
        expect(s.logs.filter((l) => l.includes('"level":"error"'))).toEqual([])
      }
      const applied = servers.flatMap((s) => s.logs.filter((l) => l.includes('"msg":"migration applied"')))
      // Each migration once, whichever server ran it.
      expect(applied).toHaveLength(loadMigrations(migrationsDir).length)
    } finally {
      await Promise.all(servers.map((s) => s.stop()))
      await dropDatabase(database)
    }
  })
})
