import { afterAll, describe, expect, it } from "vitest"
import { FAST, fullHistory, range } from "../e2e/_helpers.js"
import { startProxy } from "../support/proxy.js"
import { createTenant, type RunningServer, startServer, tempDir } from "../support/server.js"
import { chatUser, eventually, expectOnceAndInOrder } from "./_helpers.js"

const cleanup: Array<() => Promise<unknown>> = []
afterAll(async () => {
  for (const f of cleanup.reverse()) await f()
})

const started = async (dataDir: string) => {
  const server = await startServer({ dataDir })
  cleanup.push(() => server.stop("SIGKILL"))
  return server
}

describe("SDK reconnect against the real server", () => {
  it("SIGKILL and a restart mid-burst: every message reaches the app once, in room order, and every send is stored once", async () => {
    const dataDir = tempDir("chatapi-sdk-kill-")
    let server: RunningServer = await started(dataDir)
    const proxy = await startProxy(server.port)
    cleanup.push(() => proxy.close())
    const { apiKey, api } = await createTenant(proxy.url, "sdk-kill", FAST)
    const group = (await api.as("alice").post("/rooms", { type: "group", members: ["bob", "carol"] })).body.room_id as string
    const dm = (await api.as("alice").post("/rooms", { type: "dm", members: ["bob"] })).body.room_id as string

    const alice = chatUser(proxy.url, apiKey, "alice", { readAll: true })
    const bob = chatUser(proxy.url, apiKey, "bob", { readAll: true })
    cleanup.push(() => alice.client.close(), () => bob.client.close())
    await Promise.all([alice.client.connect(), bob.client.connect()])

    // A stream of sends; the server is killed at the tenth confirmation, so later ones are in flight or not yet written.
    const sends: Array<Promise<unknown>> = []
    let confirmed = 0
    let killed: Promise<unknown> | undefined
    for (const i of range(1, 40)) {
      const room = i % 3 === 0 ? dm : group
      sends.push(alice.client.send(room, `burst ${i}`).then(() => {
        if (++confirmed === 10) killed = server.stop("SIGKILL", true)
      }))
      await new Promise((r) => setTimeout(r, 10))
    }
    await eventually(() => killed !== undefined, 20_000, () => `confirmed ${confirmed}`)
    await killed
    expect(confirmed).toBeLessThan(40)
    await eventually(() => alice.client.status !== "online" && bob.client.status !== "online", 10_000)

    // Offline: these are queued by the SDK.
    for (const i of range(41, 50)) sends.push(alice.client.send(i % 2 ? dm : group, `offline ${i}`))
    expect(alice.client.status).not.toBe("online")

    server = await started(dataDir)
    proxy.retarget(server.port)
    await Promise.all(sends)
    // After the restart, carol writes over REST too.
    for (const i of range(1, 5)) expect((await api.as("carol").post(`/rooms/${group}/messages`, { content: `carol ${i}` })).status).toBe(201)

    const stored = [...await fullHistory(api, "bob", group), ...await fullHistory(api, "bob", dm)]
    expect(stored).toHaveLength(55)
    expect(new Set(stored.filter((m) => m.sender_id === "alice").map((m) => m.client_msg_id)).size).toBe(50)
    for (const room of [group, dm]) {
      const seqs = stored.filter((m) => m.room_id === room).map((m) => m.seq)
      expect(seqs).toEqual(range(1, seqs.length))
    }

    // Bob's application saw exactly the stored messages, each once, in order per room.
    await eventually(() => bob.messages.length >= 55, 30_000, () => `bob saw ${bob.messages.length}`)
    await new Promise((r) => setTimeout(r, 300))
    expectOnceAndInOrder(bob.messages)
    expect(new Set(bob.messages.map((m) => m.message_id))).toEqual(new Set(stored.map((m) => m.message_id)))

    // Alice's application was told of each of her sends once, and of carol's messages.
    const aliceSeen = [...alice.sent.map((m) => m.message_id), ...alice.messages.filter((m) => m.sender_id === "alice").map((m) => m.message_id)]
    expect(aliceSeen.length).toBe(50)
    expect(new Set(aliceSeen)).toEqual(new Set(stored.filter((m) => m.sender_id === "alice").map((m) => m.message_id)))
    await eventually(() => alice.messages.filter((m) => m.sender_id === "carol").length === 5)
    expectOnceAndInOrder(alice.messages)
    expect(alice.client.status).toBe("online")
  })

  it("server.shutdown on SIGTERM: the client reconnects after the restart and receives what was sent meanwhile", async () => {
    const dataDir = tempDir("chatapi-sdk-term-")
    let server = await started(dataDir)
    const proxy = await startProxy(server.port)
    cleanup.push(() => proxy.close())
    const { apiKey, api } = await createTenant(proxy.url, "sdk-term", FAST)
    const room = (await api.as("ann").post("/rooms", { type: "dm", members: ["ben"] })).body.room_id as string
    const ben = chatUser(proxy.url, apiKey, "ben", { readAll: true })
    cleanup.push(() => ben.client.close())
    await ben.client.connect()
    await api.as("ann").post(`/rooms/${room}/messages`, { content: "before" })
    await eventually(() => ben.messages.length === 1)

    expect(await server.stop("SIGTERM", true)).toBe(0)
    await eventually(() => ben.events.status.some((s) => s.status === "offline"))
    server = await started(dataDir)
    proxy.retarget(server.port)
    await api.as("ann").post(`/rooms/${room}/messages`, { content: "after" })
    await eventually(() => ben.messages.length === 2, 20_000, () => JSON.stringify(ben.messages.map((m) => m.content)))
    expect(ben.messages.map((m) => [m.seq, m.content])).toEqual([[1, "before"], [2, "after"]])
    // The first attempt after the shutdown waited the server's reconnect_after_ms (at least 1 s), not the 100 ms backoff.
    const offline = ben.statuses.findIndex((s) => s.status === "offline")
    expect(ben.statuses.slice(0, offline + 1).map((s) => s.status)).toEqual(["connecting", "online", "offline"])
    expect(ben.statuses[offline + 1]!.status).toBe("connecting")
    expect(ben.statuses[offline + 1]!.at - ben.statuses[offline]!.at).toBeGreaterThanOrEqual(1000)
    expect(ben.statuses.at(-1)!.status).toBe("online")
  })
})
