import { ChatError, ClientClosed } from "chatapi/client"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { FAST } from "../e2e/_helpers.js"
import { client, createTenant, type RunningServer, startServer } from "../support/server.js"
import { chatUser, eventually } from "./_helpers.js"

let server: RunningServer
let apiKey: string
let api: ReturnType<typeof client>
const closers: Array<() => Promise<unknown>> = []

beforeAll(async () => {
  server = await startServer({ env: { PRESENCE_GRACE: "200ms" } })
  ;({ apiKey, api } = await createTenant(server.url, "sdk-events", FAST))
})
afterAll(async () => {
  for (const close of closers) await close()
  await server.stop()
})

const user = async (id: string) => {
  const u = chatUser(server.url, apiKey, id)
  closers.push(() => u.client.close())
  await u.client.connect()
  return u
}

describe("SDK events", () => {
  it("presence, typing, messages, receipts, edits, deletes, notifications and channels arrive as typed events", async () => {
    const room = (await api.as("amy").post("/rooms", { type: "group", members: ["bo"] })).body.room_id as string
    const channel = (await api.as("amy").post("/rooms", { type: "channel", members: [], name: "news" })).body.room_id as string
    const amy = await user("amy")
    const bo = await user("bo")
    await eventually(() => amy.events.presence.some((p) => p.user_id === "bo" && p.status === "online"))

    amy.client.typing(room)
    await eventually(() => bo.events.typing.some((t) => t.action === "start"))
    amy.client.typing(room, false)
    await eventually(() => bo.events.typing.some((t) => t.action === "stop"))
    expect(bo.events.typing.map((t) => [t.room_id, t.user_id, t.action])).toEqual([[room, "amy", "start"], [room, "amy", "stop"]])

    const sent = await amy.client.send(room, "hello", { meta: { mood: "good" } })
    expect(sent).toMatchObject({ room_id: room, seq: 1, sender_id: "amy", content: "hello", meta: { mood: "good" } })
    expect(amy.sent).toEqual([sent])
    await eventually(() => bo.messages.length === 1)
    expect(bo.messages[0]).toMatchObject({ type: "message", message_id: sent.message_id, seq: 1, sender_id: "amy", content: "hello", client_msg_id: sent.client_msg_id })

    bo.client.markRead(room, 1)
    await eventually(() => amy.events.receipt.length === 1)
    expect(amy.events.receipt[0]).toMatchObject({ room_id: room, seq: 1, user_id: "bo" })
    // A cursor never passes what the client was sent: seq 5 does not exist yet, so only 1 is acked.
    bo.client.markRead(room, 5)
    expect((await api.as("bo").get("/rooms")).body.rooms.find((r: any) => r.room_id === room).last_ack).toBe(1)

    expect((await api.as("amy").patch(`/rooms/${room}/messages/${sent.message_id}`, { content: "hello!" })).status).toBe(200)
    await eventually(() => bo.events["message.updated"].length === 1)
    expect(bo.events["message.updated"][0]).toMatchObject({ message_id: sent.message_id, content: "hello!" })
    expect((await api.as("amy").del(`/rooms/${room}/messages/${sent.message_id}`)).status).toBe(200)
    await eventually(() => bo.events["message.deleted"].length === 1)

    const notified = await api.request("POST", "/notify", { body: { topic: "orders", payload: { order: 7 }, targets: { user_ids: ["bo"] } } })
    expect(notified.status).toBe(202)
    await eventually(() => bo.events.notification.length === 1)
    expect(bo.events.notification[0]).toMatchObject({ notification_id: notified.body.notification_id, topic: "orders", payload: { order: 7 } })
    bo.client.ackNotification(notified.body.notification_id)
    await eventually(async () => (await api.as("bo").get("/notifications")).body.notifications.length === 0)

    // Following a channel without joining it.
    const cy = await user("cy")
    cy.client.follow(channel)
    await new Promise((r) => setTimeout(r, 300))
    expect((await api.as("amy").post(`/rooms/${channel}/messages`, { content: "news" })).status).toBe(201)
    await eventually(() => cy.messages.length === 1)
    expect(cy.messages[0]).toMatchObject({ room_id: channel, content: "news" })

    // A refused send rejects with the server's code; the error frame is an event too.
    const refused = await cy.client.send(room, "let me in").catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(ChatError)
    expect(refused).toMatchObject({ code: "FORBIDDEN" })
    expect(cy.events.error.map((e) => e.code)).toEqual(["FORBIDDEN"])

    await bo.client.close()
    expect(bo.client.status).toBe("closed")
    await eventually(() => amy.events.presence.some((p) => p.user_id === "bo" && p.status === "offline"))
    expect(await bo.client.send(room, "too late").catch((e: unknown) => e)).toBeInstanceOf(ClientClosed)
  })
})
