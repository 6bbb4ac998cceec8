import { ChatapiClient, type ChatEventMap, type ChatEventType, createRestClient, type MessageFrame, type SentMessage } from "chatapi/client"
import { expect } from "vitest"
import WebSocket from "ws"

/** Waits until `check` holds, polling; fails with `describe()` after `timeoutMs`. */
export const eventually = async (check: () => boolean | Promise<boolean>, timeoutMs = 20_000, describe = () => "") => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms ${describe()}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** Quick reconnects, so that the tests do not wait on the production backoff. */
export const FAST_BACKOFF = { initialMs: 100, maxMs: 1000 } as const

/**
 * One user's application on the SDK: a `ChatapiClient` over `ws` whose tokens come from the
 * tenant's REST API (as a parent app's backend would fetch them), recording every event it is given.
 * With `readAll`, it marks every message it is shown as read, as a chat window in view does.
 */
export const chatUser = (url: string, apiKey: string, userId: string, options: { readAll?: boolean; heartbeatMs?: number } = {}) => {
  const rest = createRestClient({ baseUrl: url, apiKey, userId })
  const client = new ChatapiClient({
    url,
    userId,
    WebSocket,
    backoff: FAST_BACKOFF,
    ...(options.heartbeatMs === undefined ? {} : { heartbeatMs: options.heartbeatMs }),
    token: async () => (await rest.tokens.create({ payload: { ttl_seconds: 600 } })).token
  })
  const events: { [K in ChatEventType]: Array<ChatEventMap[K]> } = {
    message: [], sent: [], "message.updated": [], "message.deleted": [], receipt: [], typing: [],
    presence: [], notification: [], error: [], status: []
  }
  for (const type of Object.keys(events) as Array<ChatEventType>) {
    client.on(type, (data) => (events[type] as Array<unknown>).push(data))
  }
  const statuses: Array<{ readonly status: string; readonly at: number }> = []
  client.on("status", ({ status }) => statuses.push({ status, at: Date.now() }))
  if (options.readAll) client.on("message", (m) => client.markRead(m.room_id, m.seq))
  return { client, rest, events, statuses, messages: events.message as Array<MessageFrame>, sent: events.sent as Array<SentMessage> }
}

/** Each message once, and each room's messages in ascending seq order. */
export const expectOnceAndInOrder = (messages: ReadonlyArray<{ readonly room_id: string; readonly seq: number; readonly message_id: string }>) => {
  expect(new Set(messages.map((m) => m.message_id)).size).toBe(messages.length)
  const byRoom = new Map<string, Array<number>>()
  for (const m of messages) byRoom.set(m.room_id, [...(byRoom.get(m.room_id) ?? []), m.seq])
  for (const seqs of byRoom.values()) expect(seqs).toEqual([...seqs].sort((a, b) => a - b))
}
