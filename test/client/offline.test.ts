import { afterAll, describe, expect, it } from "vitest"
import { FAST, fullHistory, range } from "../e2e/_helpers.js"
import { startProxy } from "../support/proxy.js"
import { createTenant, startServer } from "../support/server.js"
import { chatUser, eventually, expectOnceAndInOrder } from "./_helpers.js"

const cleanup: Array<() => Promise<unknown>> = []
afterAll(async () => {
  for (const f of cleanup.reverse()) await f()
})

const setup = async (name: string, heartbeatMs?: number) => {
  const server = await startServer()
  cleanup.push(() => server.stop("SIGKILL"))
  const proxy = await startProxy(server.port)
  cleanup.push(() => proxy.close())
  const { apiKey, api } = await createTenant(server.url, name, FAST)
  const room = (await api.as("dan").post("/rooms", { type: "group", members: ["eve"] })).body.room_id as string
  const dan = chatUser(proxy.url, apiKey, "dan", { readAll: true, ...(heartbeatMs === undefined ? {} : { heartbeatMs }) })
  const eve = chatUser(server.url, apiKey, "eve", { readAll: true })
  cleanup.push(() => dan.client.close(), () => eve.client.close())
  await Promise.all([dan.client.connect(), eve.client.connect()])
  return { api, proxy, room, dan, eve }
}

describe("SDK offline queue", () => {
  it("sends made while offline are queued, sent on reconnect in order, and stored once", async () => {
    const { api, dan, eve, proxy, room } = await setup("sdk-offline")
    proxy.cut()
    await eventually(() => dan.client.status === "offline")

    const sends = range(1, 8).map((i) => dan.client.send(room, `queued ${i}`))
    // The same key twice while queued: one message, one answer for both.
    const twins = [1, 2].map(() => dan.client.send(room, "twice", { clientMsgId: "twin-1" }))
    await new Promise((r) => setTimeout(r, 500))
    expect(await fullHistory(api, "eve", room)).toEqual([])

    proxy.restore()
    const sent = await Promise.all(sends)
    const [twin, twin2] = await Promise.all(twins)
    expect([twin!.seq, twin2!.message_id, twin!.client_msg_id]).toEqual([9, twin!.message_id, "twin-1"])
    expect(sent.map((m) => m.seq)).toEqual(range(1, 8))
    const stored = (await fullHistory(api, "eve", room)).slice(0, 8)
    expect(stored.map((m) => m.content)).toEqual(range(1, 8).map((i) => `queued ${i}`))
    expect(stored.map((m) => m.client_msg_id)).toEqual(sent.map((m) => m.client_msg_id))
    expect(stored.map((m) => m.message_id)).toEqual(sent.map((m) => m.message_id))

    // A resend with the same client_msg_id is the original message, not a second one.
    const again = await dan.client.send(room, "queued 1", { clientMsgId: sent[0]!.client_msg_id })
    expect(again.message_id).toBe(sent[0]!.message_id)
    expect(await fullHistory(api, "eve", room)).toHaveLength(9)

    await eventually(() => eve.messages.length === 9)
    expectOnceAndInOrder(eve.messages)
    expect(dan.sent.map((m) => m.message_id)).toEqual([...sent, twin!].map((m) => m.message_id))
  })

  it("sends stored but never confirmed are resent after the reconnect with their client_msg_id: each stored once", async () => {
    const { api, dan, eve, proxy, room } = await setup("sdk-inflight")
    // The replies are lost on the way back: the server stores every send, the client hears of none.
    proxy.mute()
    const sends = range(1, 20).map((i) => dan.client.send(room, `flight ${i}`))
    await eventually(async () => (await fullHistory(api, "eve", room)).length === 20)
    expect(dan.sent).toEqual([])
    proxy.cut()
    await eventually(() => dan.client.status === "offline")
    proxy.restore()
    const sent = await Promise.all(sends)
    expect(new Set(sent.map((m) => m.message_id)).size).toBe(20)

    const stored = await fullHistory(api, "eve", room)
    expect(stored.map((m) => m.seq)).toEqual(range(1, 20))
    expect(stored.map((m) => m.message_id)).toEqual(sent.map((m) => m.message_id))
    expect(stored.map((m) => m.client_msg_id)).toEqual(sent.map((m) => m.client_msg_id))

    await eventually(() => eve.messages.length === 20)
    expectOnceAndInOrder(eve.messages)
    // Dan's application heard of each of its sends once: the reconnect sync brought them before the resends were answered.
    await new Promise((r) => setTimeout(r, 300))
    const danSeen = [...dan.sent.map((m) => m.message_id), ...dan.messages.map((m) => m.message_id)]
    expect(danSeen.sort()).toEqual(sent.map((m) => m.message_id).sort())
  })

  it("a socket gone silent without a close is dropped after an unanswered ping, and the client comes back", async () => {
    const { api, dan, proxy, room } = await setup("sdk-silent", 1000)
    // Quiet but healthy: the pings are answered, the socket stays.
    await new Promise((r) => setTimeout(r, 3000))
    expect(dan.statuses.map((s) => s.status)).toEqual(["connecting", "online"])
    proxy.mute()
    const muted = Date.now()
    await eventually(() => dan.client.status === "offline", 10_000)
    expect(Date.now() - muted).toBeLessThan(5_000)
    // The network comes back; the connections that died with it (the token fetch's too) are reset.
    proxy.cut()
    proxy.restore()
    expect((await api.as("eve").post(`/rooms/${room}/messages`, { content: "are you there?" })).status).toBe(201)
    await eventually(() => dan.messages.length === 1)
    expect(dan.messages[0]).toMatchObject({ seq: 1, content: "are you there?" })
  })
})
