#!/usr/bin/env node
// A chat between two users on the SDK (chatapi/client): the REST client as the parent app's backend,
// a ChatapiClient per user as each browser would hold it. Reconnects, dedupe, room order, acks and
// the offline queue are the SDK's business.
//
//   npm run build && CHATAPI_URL=http://localhost:8080 CHATAPI_API_KEY=sk_... node examples/sdk.mjs
//
// Optional: CHATAPI_USERS=alice,bob, CHATAPI_TIMEOUT_MS=20000 (exit 1 after it).
// Node 20 has no global WebSocket, so the `ws` package is passed in; a browser needs nothing.
import { ChatapiClient, createRestClient } from "chatapi/client"
import WebSocket from "ws"

const URL = (process.env.CHATAPI_URL ?? "http://localhost:8080").replace(/\/+$/, "")
const API_KEY = process.env.CHATAPI_API_KEY
const [SENDER, RECEIVER] = (process.env.CHATAPI_USERS ?? "alice,bob").split(",").map((u) => u.trim())
const TIMEOUT_MS = Number(process.env.CHATAPI_TIMEOUT_MS ?? 20_000)

if (!API_KEY || !SENDER || !RECEIVER || SENDER === RECEIVER) {
  console.error("usage: CHATAPI_URL=http://localhost:8080 CHATAPI_API_KEY=sk_... [CHATAPI_USERS=alice,bob] node examples/sdk.mjs")
  process.exit(2)
}
const timeout = setTimeout(() => {
  console.error(`timed out after ${TIMEOUT_MS} ms without a complete exchange`)
  process.exit(1)
}, TIMEOUT_MS)
const log = (who, ...args) => console.log(`[${who}]`, ...args)

/** The parent app's backend: it holds the API key, says who acts, and hands out connection tokens. */
const backend = (userId) => createRestClient({ baseUrl: URL, apiKey: API_KEY, userId })

/** One user's realtime client; it asks the backend for a fresh token on every (re)connect. */
const connect = (userId) => {
  const chat = new ChatapiClient({
    url: URL,
    userId,
    WebSocket,
    token: async () => (await backend(userId).tokens.create({ payload: { ttl_seconds: 600 } })).token
  })
  chat.on("status", ({ status }) => log(userId, status))
  return chat
}

try {
  const room = await backend(SENDER).rooms.create({ payload: { type: "dm", members: [RECEIVER] } })
  log("backend", `room ${room.room_id}`)
  const sender = connect(SENDER)
  const receiver = connect(RECEIVER)

  const read = new Promise((resolve) => sender.on("receipt", (r) => r.user_id === RECEIVER && resolve(r)))
  receiver.on("message", (m) => {
    log(RECEIVER, `<- message seq=${m.seq} from ${m.sender_id}: ${JSON.stringify(m.content)}`)
    receiver.markRead(m.room_id, m.seq)
  })
  await Promise.all([sender.connect(), receiver.connect()])

  sender.typing(room.room_id)
  const sent = await sender.send(room.room_id, `hello from ${SENDER} at ${new Date().toISOString()}`)
  log(SENDER, `-> stored as seq=${sent.seq} (${sent.message_id})`)
  const receipt = await read
  log(SENDER, `<- receipt: ${receipt.user_id} read up to seq ${receipt.seq}`)

  await Promise.all([sender.close(), receiver.close()])
  clearTimeout(timeout)
  log("example", "done")
} catch (error) {
  console.error(error.message ?? error)
  process.exit(1)
}
