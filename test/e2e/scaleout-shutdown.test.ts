import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Cluster, roamingMember, startCluster } from "../support/cluster.js"
import { onPostgres } from "../support/postgres.js"
import { redisGate } from "../support/redis.js"
import { FAST, fullHistory, range, sleep } from "./_helpers.js"

const gate = await redisGate()

// Runs in the postgres project only (vitest.config.ts).
describe.skipIf(gate.skip)("SIGTERM of one of three instances on PostgreSQL and Redis while traffic flows", () => {
  let cluster: Cluster

  beforeAll(async () => {
    if (gate.failure !== undefined) throw new Error(gate.failure)
    if (!onPostgres) throw new Error("scaleout-shutdown.test.ts needs CHATAPI_TEST_STORE=postgres; it belongs to the postgres project")
    cluster = await startCluster(3, { env: { SHUTDOWN_DRAIN_TIMEOUT: "10s", PRESENCE_GRACE: "1s" }, tenantConfig: FAST })
  })
  afterAll(async () => {
    await cluster?.stop()
  })

  it("moves its sockets to the other instances, and every member ends with every message exactly once, in order", async () => {
    const senders = ["s0", "s1", "s2"]
    const members = range(0, 5).map((k) => `m${k}`)
    const room = (await cluster.api(1).as("s0").post("/rooms", { type: "group", members: [...senders, ...members] })).body.room_id as string
    const urls = cluster.servers.map((s) => s.url)
    // Two members on each instance; m0 and m3 are on A, the one that stops, and move one to B, the other to C.
    const roaming = members.map((m, k) => roamingMember(urls, k % 3, k < 3 ? 1 : 2, cluster.tenant.apiKey, m, room))
    const deadline = Date.now() + 10_000
    while (roaming.some((r) => r.visits.length === 0) && Date.now() < deadline) await sleep(50)

    const acknowledged = new Map<string, number>()
    let stopping: Promise<number | null> | undefined
    /** A client behind a load balancer: on a refusal or a 503, the same Idempotency-Key through the next instance. */
    const sendOnce = async (sender: string, n: number, first: number) => {
      const key = `${sender}-${n}`
      for (let attempt = 0; attempt < 30; attempt++) {
        const via = (first + attempt) % urls.length
        const res = await cluster.api(via).as(sender).post(`/rooms/${room}/messages`, { content: key }, { "idempotency-key": key }).catch(() => undefined)
        if (res?.status === 201) return void acknowledged.set(res.body.message_id, res.body.seq)
        if (attempt >= urls.length) await sleep(100)
      }
      throw new Error(`${key} was never stored`)
    }
    await Promise.all(senders.map(async (sender, s) => {
      for (let n = 0; n < 100; n++) {
        await sendOnce(sender, n, s)
        if (acknowledged.size >= 100 && stopping === undefined) stopping = cluster.servers[0]!.stop("SIGTERM")
      }
    }))
    expect(await stopping, "A drained and exited 0").toBe(0)

    const history = await fullHistory(cluster.api(2), "m1", room)
    expect(history.map((m) => m.seq)).toEqual(range(1, 300))
    const stored = new Map(history.map((m) => [m.message_id as string, m.seq as number]))
    for (const [id, seq] of acknowledged) expect(stored.get(id), `201'd ${id}`).toBe(seq)
    expect(history.map((m) => m.content).sort()).toEqual(senders.flatMap((s) => range(0, 99).map((n) => `${s}-${n}`)).sort())

    for (const r of roaming) await r.waitFor(300, 30_000)
    await sleep(500)
    roaming.forEach((r) => r.close())
    for (const [k, r] of roaming.entries()) {
      // Never deduplicated: exactly once each, in order, across the move.
      expect(r.messages.map((m) => m.seq), members[k]).toEqual(range(1, 300))
      expect(r.messages.map((m) => m.message_id)).toEqual(history.map((m) => m.message_id))
      if (k % 3 === 0) {
        expect(r.visits[0], `${members[k]} was told and closed with 1001`).toMatchObject({ via: 0, close: 1001 })
        expect(r.visits[0]!.shutdown).toBeGreaterThan(0)
        expect(r.visits[0]!.afterShutdown, "server.shutdown was the last frame").toBe(0)
        expect(r.visits.slice(1).map((v) => v.via)).toEqual([k < 3 ? 1 : 2])
        expect(r.messages.some((m) => m.via !== 0), "and got the rest from another instance").toBe(true)
      } else {
        expect(r.visits.map((v) => v.via), `${members[k]} stayed where it was`).toEqual([k % 3])
      }
    }
  }, 120_000)
})
