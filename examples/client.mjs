#!/usr/bin/env node
// A chat between two users, end to end: REST as the parent app's backend, WebSocket as each browser.
//
//   CHATAPI_URL=http://localhost:8080 CHATAPI_API_KEY=sk_... node examples/client.mjs
//
// Optional: CHATAPI_USERS=alice,bob (the two users), CHATAPI_TIMEOUT_MS=20000 (exit 1 after it),
// CHATAPI_DROP_ONCE=1 (the receiver drops its socket before acking once, to show reconnect sync and dedupe).
// Needs Node >= 20 and the `ws` package (a devDependency of this repository).
import { randomUUID } from "node:crypto"
import WebSocket from "ws"

const BASE = (process.env.CHATAPI_URL ?? "http://localhost:8080").replace(/\/+$/, "")
const API_KEY = process.env.CHATAPI_API_KEY
const [SENDER, RECEIVER] = (process.env.CHATAPI_USERS ?? "alice,bob").split(",").map((u) => u.trim())
const TIMEOUT_MS = Number(process.env.CHATAPI_TIMEOUT_MS ?? 20_000)
const DROP_ONCE = process.env.CHATAPI_DROP_ONCE === "1"

if (!API_KEY || !SENDER || !RECEIVER || SENDER === RECEIVER) {
  console.error("usage: CHATAPI_URL=http://localhost:8080 CHATAPI_API_KEY=sk_... [CHATAPI_USERS=alice,bob] node examples/client.mjs")
  process.exit(2)
}

const log = (who, ...args) => console.log(`[${who}]`, ...args)

const timeout = setTimeout(() => {
  console.error(`timed out after ${TIMEOUT_MS} ms without a complete exchange`)
  process.exit(1)
}, TIMEOUT_MS)

/** The parent app's backend: it holds the API key and says which user acts. */
const rest = async (method, path, user, body) => {
  const headers = { "x-api-key": API_KEY, "x-user-id": user }
  if (body !== undefined) headers["content-type"] = "application/json"
  const res = await fetch(BASE + path, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) })
  const json = await res.json().catch(() => null)
  if (!res.ok) throw new Error(`${method} ${path} -> ${res.status} ${JSON.stringify(json)}`)
  return { status: res.status, body: json }
}

/** Exponential backoff with jitter: about 250 ms, 500 ms, 1 s, ... up to 5 s. */
const backoff = (attempt) => Math.round(Math.min(5_000, 250 * 2 ** attempt) * (0.5 + Math.random() / 2))

/**
 * One user's realtime connection, as a browser would hold it: a fresh token for every attempt,
 * reconnect on close with backoff, dedupe by message_id, ack what was shown.
 */
const connect = (user, { onOpen, onFrame }) => {
  const seen = new Set()
  const acked = new Map()
  let socket
  let attempt = 0
  let stopped = false
  let nextDelay
  const conn = {
    user,
    send: (frame) => socket?.readyState === WebSocket.OPEN && socket.send(JSON.stringify(frame)),
    /** Loses the socket as a network failure would (no close frame). */
    drop: () => socket?.terminate(),
    stop: () => new Promise((resolve) => {
      stopped = true
      if (!socket || socket.readyState === WebSocket.CLOSED) return resolve()
      socket.once("close", resolve)
      socket.close(1000, "done")
    })
  }

  const retry = () => {
    if (stopped) return
    const delay = nextDelay ?? backoff(attempt++)
    nextDelay = undefined
    log(user, `reconnecting in ${delay} ms`)
    setTimeout(open, delay)
  }

  const open = async () => {
    let token
    try {
      token = (await rest("POST", "/tokens", user, { ttl_seconds: 600 })).body.token
    } catch (error) {
      log(user, "could not get a token:", error.message)
      return retry()
    }
    socket = new WebSocket(`${BASE.replace(/^http/, "ws")}/ws?token=${encodeURIComponent(token)}`)
    socket.on("open", () => {
      attempt = 0
      log(user, "connected")
      onOpen?.(conn)
    })
    socket.on("error", (error) => log(user, "socket error:", error.message))
    socket.on("close", (code, reason) => {
      log(user, `closed ${code}${reason.length ? ` (${reason})` : ""}`)
      retry()
    })
    socket.on("message", (data) => {
      const frame = JSON.parse(String(data))
      switch (frame.type) {
        case "message": {
          // At-least-once: a reconnect or a retry may send a message again.
          if (seen.has(frame.message_id)) log(user, `<- message seq=${frame.seq} again (duplicate, skipped)`)
          else {
            seen.add(frame.message_id)
            log(user, `<- message seq=${frame.seq} from ${frame.sender_id}: ${JSON.stringify(frame.content)}`)
          }
          break
        }
        case "server.shutdown":
          nextDelay = frame.reconnect_after_ms + Math.round(Math.random() * 500)
          log(user, `<- server.shutdown, reconnecting after ${frame.reconnect_after_ms} ms`)
          break
        case "error":
          log(user, `<- error ${frame.code}: ${frame.message}${frame.request_id ? ` (request ${frame.request_id})` : ""}`)
          break
        default:
          log(user, `<- ${frame.type}`, JSON.stringify(frame))
      }
      if (onFrame?.(conn, frame) === "dropped") return
      // The read cursor only moves forward: ack the highest seq shown in each room.
      if (frame.type === "message" && frame.seq > (acked.get(frame.room_id) ?? 0)) {
        acked.set(frame.room_id, frame.seq)
        conn.send({ type: "ack", room_id: frame.room_id, seq: frame.seq })
        log(user, `-> ack room=${frame.room_id} seq=${frame.seq}`)
      }
    })
  }

  open()
  return conn
}

const main = async () => {
  const room = await rest("POST", "/rooms", SENDER, { type: "dm", members: [RECEIVER] })
  log("backend", `room ${room.body.room_id} (${room.status === 201 ? "created" : "the existing DM"})`)
  const roomId = room.body.room_id
  const clientMsgId = `example-${randomUUID()}`
  const content = `hello from ${SENDER} at ${new Date().toISOString()}`

  let sent
  let receiverAck = 0
  let dropped = false
  const opened = new Set()
  let finished = false

  const finish = async () => {
    if (finished || sent === undefined || receiverAck < sent.seq) return
    finished = true
    clearTimeout(timeout)
    log("example", `${RECEIVER} received and acked seq ${sent.seq}: done`)
    await Promise.all([sender.stop(), receiver.stop()])
    process.exit(0)
  }

  // Sent on every (re)connect until confirmed: the client_msg_id makes a resend return the original.
  const sendOnce = (conn) => {
    if (sent !== undefined || opened.size < 2) return
    conn.send({ type: "typing.start", room_id: roomId })
    conn.send({ type: "send_message", request_id: "send-1", room_id: roomId, content, client_msg_id: clientMsgId })
    conn.send({ type: "typing.stop", room_id: roomId })
    log(SENDER, `-> send_message ${JSON.stringify(content)}`)
  }

  const sender = connect(SENDER, {
    onOpen: (conn) => {
      opened.add(SENDER)
      sendOnce(conn)
    },
    onFrame: (_conn, frame) => {
      if (frame.type === "message.sent" && frame.request_id === "send-1") sent = frame
      if (frame.type === "ack.received" && frame.user_id === RECEIVER) receiverAck = Math.max(receiverAck, frame.seq)
      finish()
    }
  })
  const receiver = connect(RECEIVER, {
    onOpen: () => {
      opened.add(RECEIVER)
      sendOnce(sender)
    },
    onFrame: (conn, frame) => {
      if (DROP_ONCE && !dropped && frame.type === "message" && frame.client_msg_id === clientMsgId) {
        dropped = true
        log(RECEIVER, "dropping the socket before acking: the reconnect sync sends the message again")
        conn.drop()
        return "dropped"
      }
    }
  })
}

main().catch((error) => {
  console.error(error.message)
  process.exit(1)
})
