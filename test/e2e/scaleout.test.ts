import { Effect } from "effect"
import * as crypto from "node:crypto"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Cluster, metric, startCluster } from "../support/cluster.js"
import { onPostgres, withPostgres } from "../support/postgres.js"
import { REDIS_URL, redisCommand, redisGate } from "../support/redis.js"
import { storeDsn } from "../support/server.js"
import { type WsClient } from "../support/ws.js"
import { eventually, FAST, fullHistory, isMessage, range, sleep } from "./_helpers.js"

const gate = await redisGate()
const MAX_SOCKETS = 3

// Runs in the postgres project only (vitest.config.ts): the same servers on SQLite are redis.test.ts's.
describe.skipIf(gate.skip)("three instances on one PostgreSQL and one Redis", () => {
  let cluster: Cluster
  const open: Array<WsClient> = []
  const ws = async (i: number, user: string) => {
    const socket = await cluster.ws(i, user)
    open.push(socket)
    return socket
  }
  /** The socket, or the HTTP status its upgrade was refused with. */
  const tryConnect = (i: number, user: string) => ws(i, user).then((socket): WsClient | number => socket, (e: { status?: number }) => e.status ?? -1)
  const group = async (creator: string, members: ReadonlyArray<string>) => {
    const res = await cluster.api(0).as(creator).post("/rooms", { type: "group", members })
    expect(res.status).toBe(201)
    return res.body.room_id as string
  }

  beforeAll(async () => {
    if (gate.failure !== undefined) throw new Error(gate.failure)
    if (!onPostgres) throw new Error("scaleout.test.ts needs CHATAPI_TEST_STORE=postgres; it belongs to the postgres project")
    cluster = await startCluster(3, {
      env: { MAX_CONNECTIONS_PER_USER: String(MAX_SOCKETS), PRESENCE_GRACE: "1s", WORKER_INTERVAL: "200ms", RETRY_INTERVAL: "1s" },
      tenantConfig: FAST
    })
  })
  afterAll(async () => {
    await Promise.all(open.map((s) => s.close()))
    await cluster?.stop()
  })

  it("gives 300 concurrent sends spread over A, B and C seqs exactly 1..300, and a receiver on C gets them all in order", async () => {
    const senders = ["s0", "s1", "s2", "s3", "s4", "s5"]
    const room = await group("s0", [...senders, "rc"])
    const rc = await ws(2, "rc")
    const sent = await Promise.all(range(1, 300).map((i) =>
      cluster.api(i % 3).as(senders[i % senders.length]!).post(`/rooms/${room}/messages`, { content: `m${i} via ${i % 3}` })
    ))
    expect(sent.map((r) => r.status)).toEqual(sent.map(() => 201))
    expect(sent.map((r) => r.body.seq as number).sort((a, b) => a - b)).toEqual(range(1, 300))
    const history = await fullHistory(cluster.api(1), "rc", room)
    expect(history.map((m) => m.seq)).toEqual(range(1, 300))
    expect(new Set(history.map((m) => m.message_id))).toEqual(new Set(sent.map((r) => r.body.message_id)))

    await rc.waitFor(isMessage(room), 300, 30_000)
    await sleep(300)
    const got = rc.frames.filter(isMessage(room))
    expect(got.map((f) => f.seq)).toEqual(range(1, 300))
    const bySeq = new Map(history.map((m) => [m.seq as number, m.message_id as string]))
    expect(got.every((f) => bySeq.get(f.seq) === f.message_id)).toBe(true)
    expect(got.filter((f) => !String(f.content).endsWith("via 2")).length, "those sent through A and B").toBe(200)
  })

  it("syncs a user who left A and came back through B with exactly what it missed, in order, then live", async () => {
    const room = await group("sue", ["ned"])
    const send = (i: number, content: string) => cluster.api(i).as("sue").post(`/rooms/${room}/messages`, { content })
    const onA = await ws(0, "ned")
    for (const i of range(1, 5)) expect((await send(2, `before ${i}`)).status).toBe(201)
    await onA.waitFor(isMessage(room), 5, 10_000)
    onA.send({ type: "ack", room_id: room, seq: 5 })
    const acked = () => cluster.api(1).as("ned").get("/rooms").then((r) => r.body.rooms?.find((x: any) => x.room_id === room)?.last_ack === 5)
    expect(await eventually(acked, 5_000), "the ack reached the store").toBe(true)
    await onA.close()

    const missed = []
    for (const i of range(6, 12)) missed.push((await send(i % 2 === 0 ? 0 : 2, `missed ${i}`)).body)
    const syncedBefore = await metric(cluster.servers[1]!, "chatapi_deliveries_total", { path: "sync", kind: "message" })
    const liveBefore = await metric(cluster.servers[1]!, "chatapi_deliveries_total", { path: "live", kind: "message" })
    const onB = await ws(1, "ned")
    await onB.waitFor(isMessage(room), 7, 10_000)
    const live = []
    for (const i of range(13, 15)) live.push((await send(0, `live ${i}`)).body)
    await onB.waitFor(isMessage(room), 10, 10_000)
    await sleep(500)
    const frames = onB.frames.filter(isMessage(room))
    expect(frames.map((f) => f.seq)).toEqual(range(6, 15))
    expect(frames.map((f) => f.message_id)).toEqual([...missed, ...live].map((m) => m.message_id))
    expect(await metric(cluster.servers[1]!, "chatapi_deliveries_total", { path: "sync", kind: "message" }) - syncedBefore, "by reconnect sync").toBe(7)
    expect(await metric(cluster.servers[1]!, "chatapi_deliveries_total", { path: "live", kind: "message" }) - liveBefore, "then live").toBe(3)
  })

  it("caps a user's sockets over every instance together (MAX_CONNECTIONS_PER_USER)", async () => {
    const sockets = [await ws(0, "max"), await ws(1, "max"), await ws(2, "max")]
    expect(await tryConnect(0, "max")).toBe(429)
    expect(await tryConnect(1, "max")).toBe(429)
    await sockets[1]!.close()
    // A closed socket gives its place back, to any instance (once B's handler has finished with it).
    expect(await eventually(async () => typeof (await tryConnect(2, "max")) === "object", 5_000)).toBe(true)
    expect(await tryConnect(2, "max")).toBe(429)
    expect(typeof (await tryConnect(0, "someone-else")), "others are not affected").toBe("object")
  })

  it("catches sockets up from the store when an instance's lease runs out after it committed a message it never published", async () => {
    const room = await group("gil", ["gia"])
    const onA = await ws(0, "gia")
    const onC = await ws(2, "gil")
    expect((await cluster.api(1).as("gil").post(`/rooms/${room}/messages`, { content: "published" })).status).toBe(201)
    await onA.waitFor(isMessage(room), 1, 10_000)
    await onC.waitFor(isMessage(room), 1, 10_000)

    // What an instance leaves behind that died right after its commit: seq 2 in the store, no event, a lease about to end.
    const messageId = crypto.randomUUID()
    await withPostgres(await storeDsn(cluster.dataDir), (sql) =>
      sql.withTransaction(Effect.zipRight(
        sql`UPDATE rooms SET last_seq = 2 WHERE tenant_id = ${cluster.tenant.tenantId} AND room_id = ${room}`,
        sql`INSERT INTO messages (tenant_id, room_id, seq, message_id, sender_id, content, meta, created_at)
          VALUES (${cluster.tenant.tenantId}, ${room}, 2, ${messageId}, 'gil', 'never published', '{}', ${Date.now()})`
      )))
    const [seconds, micros] = (await redisCommand(REDIS_URL, "TIME")) as [string, string]
    const leaseEnd = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) + 500
    await redisCommand(REDIS_URL, "ZADD", `${cluster.prefix}instances`, String(leaseEnd), "crashed-instance")

    for (const socket of [onA, onC]) {
      const [, second] = await socket.waitFor(isMessage(room), 2, 15_000)
      expect(second).toMatchObject({ seq: 2, message_id: messageId, content: "never published" })
    }
    expect(cluster.servers[0]!.logs.some((l) => l.includes("instance lease ran out") && l.includes("crashed-instance"))).toBe(true)
  })

  it("loses no 201 when an instance is SIGKILLed during traffic; receivers on the others get every message; its sockets stop counting", async () => {
    const senders = ["k0", "k1", "k2"]
    const room = await group("k0", [...senders, "wa", "wc"])
    const wa = await ws(0, "wa")
    const wc = await ws(2, "wc")
    // The capped user has two sockets on B, the instance that dies, and one on A.
    await ws(1, "cap")
    await ws(1, "cap")
    await ws(0, "cap")

    const alive = new Set([0, 1, 2])
    const acknowledged = new Map<string, number>()
    let refusedRightAfter: unknown
    const kill = async () => {
      alive.delete(1)
      await cluster.servers[1]!.stop("SIGKILL")
      refusedRightAfter = await tryConnect(2, "cap")
    }
    let killing: Promise<void> | undefined
    /** A send as a client behind a load balancer makes it: the same Idempotency-Key, again through a live instance, until it is stored. */
    const sendOnce = async (sender: string, n: number, first: number) => {
      const key = `${sender}-${n}`
      for (let attempt = 0; attempt < 30; attempt++) {
        const candidates = [...alive]
        const via = attempt === 0 && alive.has(first) ? first : candidates[(n + attempt) % candidates.length]!
        const res = await cluster.api(via).as(sender).post(`/rooms/${room}/messages`, { content: key }, { "idempotency-key": key }).catch(() => undefined)
        if (res?.status === 201) return void acknowledged.set(res.body.message_id, res.body.seq)
        await sleep(100)
      }
      throw new Error(`${key} was never stored`)
    }
    await Promise.all(senders.map(async (sender, s) => {
      for (let n = 0; n < 60; n++) {
        await sendOnce(sender, n, s)
        if (acknowledged.size >= 60 && killing === undefined) killing = kill()
      }
    }))
    await killing
    expect(cluster.servers[1]!.process.signalCode).toBe("SIGKILL")

    const history = await fullHistory(cluster.api(0), "wa", room)
    expect(history.map((m) => m.seq)).toEqual(range(1, history.length))
    const stored = new Map(history.map((m) => [m.message_id as string, m.seq as number]))
    for (const [id, seq] of acknowledged) expect(stored.get(id), `201'd ${id}`).toBe(seq)
    // Every send is there once, however many instances its retries went through.
    expect(history.map((m) => m.content).sort()).toEqual(senders.flatMap((s) => range(0, 59).map((n) => `${s}-${n}`)).sort())

    for (const socket of [wa, wc]) {
      await socket.waitFor(isMessage(room), history.length, 30_000)
      await sleep(200)
      expect(socket.frames.filter(isMessage(room)).map((f) => f.message_id)).toEqual(history.map((m) => m.message_id))
    }

    // B's two sockets count until its lease runs out (10 s), then no more.
    expect(refusedRightAfter, "the dead instance's sockets still count right after the kill").toBe(429)
    expect(await eventually(async () => typeof (await tryConnect(2, "cap")) === "object", 25_000, 500)).toBe(true)
    await ws(2, "cap")
    expect(await tryConnect(0, "cap"), "one on A and two on C: the cap again").toBe(429)
  }, 120_000)
})
