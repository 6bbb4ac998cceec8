import { Socket } from "@effect/platform"
import { Context, Deferred, Effect, Either, Exit, Fiber, FiberSet, Layer, PubSub, Queue, type Scope, Stream } from "effect"
import { type BackoffOptions, reconnectDelay, shutdownDelay } from "./Backoff.js"
import { ChatError, ClientClosed } from "./Errors.js"
import { type ChatEvent, type ConnectionStatus, event, type SentMessage } from "./Events.js"
import { makeInbox } from "./Inbox.js"
import { constructorLayer, decodeFrame, decoder, newId, socketUrl, type WebSocketConstructor } from "./Wire.js"

export interface RealtimeOptions {
  /** The chatapi base URL, e.g. `https://chat.example.com`; the socket opens `/ws` under it. */
  readonly url: string
  /** The user the tokens are for: the sender of this client's messages. */
  readonly userId: string
  /** A fresh connection token (from `POST /tokens`, through your backend), asked for on every attempt. */
  readonly token: Effect.Effect<string, unknown>
  /** Defaults to `globalThis.WebSocket`; Node 20 has none, so pass `ws` there. */
  readonly WebSocket?: WebSocketConstructor | undefined
  readonly backoff?: BackoffOptions | undefined
  /** Client-side liveness: a `ping` after this much silence, a reconnect when it goes unanswered as long (default 25 s). */
  readonly heartbeatMs?: number | undefined
}

export interface SendOptions {
  readonly meta?: Record<string, unknown> | undefined
  /** The idempotency key (default: a random one); a resend with it never stores a second message. */
  readonly clientMsgId?: string | undefined
}

/** One user's realtime connection; it reconnects by itself until closed. */
export interface Realtime {
  readonly userId: string
  /** Every event from the moment the stream is run. */
  readonly events: Stream.Stream<ChatEvent>
  /** A queue of every event from now on, for as long as the scope lasts. */
  readonly subscribe: Effect.Effect<Queue.Dequeue<ChatEvent>, never, Scope.Scope>
  readonly status: Effect.Effect<ConnectionStatus>
  /** Starts connecting (once) and waits until the first socket is open. */
  readonly connect: Effect.Effect<void, ClientClosed>
  /** Stores a message: sent at once when online, queued and sent on reconnect when not. */
  readonly send: (roomId: string, content: string, options?: SendOptions) => Effect.Effect<SentMessage, ChatError | ClientClosed>
  /** The user has read `roomId` up to `seq`: acked now, or once online. */
  readonly markRead: (roomId: string, seq: number) => Effect.Effect<void>
  readonly ackNotification: (notificationId: string) => Effect.Effect<void>
  /** Typing is live only: dropped while offline. */
  readonly typing: (roomId: string, typing: boolean) => Effect.Effect<void>
  /** Follows a channel without joining it, again after every reconnect. */
  readonly follow: (roomId: string) => Effect.Effect<void>
  readonly unfollow: (roomId: string) => Effect.Effect<void>
  readonly close: Effect.Effect<void>
}

interface Pending {
  /** This send's `request_id`: its reply, on whichever socket, is matched by it. */
  readonly id: string
  readonly clientMsgId: string
  readonly roomId: string
  readonly content: string
  readonly meta: Record<string, unknown>
  readonly frame: string
  readonly done: Deferred.Deferred<SentMessage, ChatError | ClientClosed>
}

/** Codes after which a send is tried again rather than given up. */
const RETRYABLE = new Set(["RATE_LIMIT_EXCEEDED", "UNAVAILABLE"])

export const make = (options: RealtimeOptions): Effect.Effect<Realtime, never, Scope.Scope> =>
  Effect.gen(function*() {
    const sockets = constructorLayer(options.WebSocket)
    const heartbeatMs = options.heartbeatMs ?? 25_000
    const pubsub = yield* Effect.acquireRelease(PubSub.unbounded<ChatEvent>(), PubSub.shutdown)
    const run = yield* FiberSet.makeRuntime<never>()
    const online = yield* Deferred.make<void, ClientClosed>()
    const inbox = makeInbox()
    const pending = new Map<string, Pending>()
    const notificationsAcked = new Set<string>()
    const followed = new Set<string>()
    let status: ConnectionStatus = "idle"
    let outbound: Queue.Queue<string> | undefined
    let loop: Fiber.RuntimeFiber<never> | undefined
    let attempt = 0
    let nextDelay: number | undefined
    let lastHeard = Date.now()

    const emit = (e: ChatEvent) => void pubsub.unsafeOffer(e)
    const setStatus = (next: ConnectionStatus) => {
      if (status === next) return
      status = next
      emit(event("status", { status: next }))
    }
    const write = (frame: string | Record<string, unknown>) =>
      void outbound?.unsafeOffer(typeof frame === "string" ? frame : JSON.stringify(frame))
    const flushAcks = () => {
      if (outbound === undefined) return
      for (const { roomId, seq } of inbox.dueAcks()) write({ type: "ack", room_id: roomId, seq })
    }
    const settle = (p: Pending, exit: Exit.Exit<SentMessage, ChatError | ClientClosed>) => {
      pending.delete(p.id)
      Deferred.unsafeDone(p.done, exit)
    }

    const onFrame = (raw: string | Uint8Array) => {
      lastHeard = Date.now()
      const decoded = decodeFrame(typeof raw === "string" ? raw : decoder.decode(raw))
      if (Either.isLeft(decoded)) return
      const f = decoded.right
      switch (f.type) {
        case "message":
          if (inbox.message(f.room_id, f.seq, f.message_id, f.sender_id === options.userId)) emit(event("message", f))
          return flushAcks()
        case "message.sent": {
          const p = f.request_id === undefined ? undefined : pending.get(f.request_id)
          if (p === undefined) return
          const sent: SentMessage = {
            room_id: f.room_id, seq: f.seq, message_id: f.message_id, sender_id: options.userId,
            content: p.content, meta: p.meta, client_msg_id: p.clientMsgId, created_at: f.created_at
          }
          if (inbox.sent(f.message_id)) emit(event("sent", sent))
          return settle(p, Exit.succeed(sent))
        }
        case "error": {
          emit(event("error", f))
          const p = f.request_id === undefined ? undefined : pending.get(f.request_id)
          if (p === undefined) return
          if (!RETRYABLE.has(f.code)) {
            return settle(p, Exit.fail(new ChatError({ code: f.code, message: f.message, ...(f.field === undefined ? {} : { field: f.field }) })))
          }
          run(Effect.sleep(1000 + Math.random() * 1000).pipe(Effect.andThen(Effect.sync(() => pending.get(p.id) === p && write(p.frame)))))
          return
        }
        case "notification":
          if (inbox.notification(f.notification_id)) return emit(event("notification", f))
          // Synced again: the ack did not reach the server.
          if (notificationsAcked.has(f.notification_id)) write({ type: "ack", notification_id: f.notification_id })
          return
        case "server.shutdown":
          nextDelay = shutdownDelay(f.reconnect_after_ms)
          return
        case "pong":
          return
        case "ack.received":
          return emit(event("receipt", f))
        case "presence.update":
          return emit(event("presence", f))
        default:
          return emit(event(f.type, f as never))
      }
    }

    const opened = (queue: Queue.Queue<string>) =>
      Effect.sync(() => {
        attempt = 0
        nextDelay = undefined
        lastHeard = Date.now()
        outbound = queue
        for (const p of pending.values()) write(p.frame)
        for (const roomId of followed) write({ type: "subscribe", room_id: roomId })
        inbox.resetAcks()
        flushAcks()
        setStatus("online")
        Deferred.unsafeDone(online, Exit.void)
      })

    /**
     * Pings after `heartbeatMs` of silence and fails when the ping went unanswered for as long. It
     * judges from the ping, not from the silence, so a timer throttled in a background tab does not
     * drop a healthy socket.
     */
    const liveness = Effect.gen(function*() {
      let pingedAt: number | undefined
      for (;;) {
        yield* Effect.sleep(heartbeatMs / 2)
        const now = Date.now()
        if (pingedAt !== undefined && lastHeard < pingedAt) {
          if (now - pingedAt > heartbeatMs) return yield* Effect.fail("heartbeat timeout")
        } else if (outbound !== undefined && now - lastHeard >= heartbeatMs) {
          pingedAt = now
          write({ type: "ping" })
        }
      }
    })

    /** One socket, from the token to its close. */
    const connectOnce = Effect.gen(function*() {
      setStatus("connecting")
      lastHeard = Date.now()
      const token = yield* options.token
      const socket = yield* Socket.makeWebSocket(socketUrl(options.url, token), { closeCodeIsError: () => true })
      const writeRaw = yield* socket.writer
      const queue = yield* Queue.unbounded<string>()
      const writer = Queue.take(queue).pipe(Effect.flatMap(writeRaw), Effect.forever)
      // Whichever ends first, by a close, a write error or silence, ends this socket.
      yield* socket.runRaw(onFrame, { onOpen: opened(queue) }).pipe(Effect.raceFirst(writer), Effect.raceFirst(liveness))
    }).pipe(
      Effect.scoped,
      Effect.provide(sockets),
      Effect.ensuring(Effect.sync(() => (outbound = undefined)))
    )

    const reconnecting: Effect.Effect<never> = Effect.gen(function*() {
      for (;;) {
        yield* connectOnce.pipe(Effect.catchAllCause((cause) => Effect.logDebug("chatapi/client: connection lost", cause)))
        setStatus("offline")
        const delay = nextDelay ?? reconnectDelay(attempt++, options.backoff)
        nextDelay = undefined
        yield* Effect.sleep(delay)
      }
    })

    const closed = () => new ClientClosed({ message: "the client is closed" })

    const close = Effect.suspend(() => {
      if (status === "closed") return Effect.void
      return Effect.zipRight(
        loop === undefined ? Effect.void : Fiber.interrupt(loop),
        Effect.sync(() => {
          setStatus("closed")
          Deferred.unsafeDone(online, Exit.fail(closed()))
          for (const p of [...pending.values()]) settle(p, Exit.fail(closed()))
        })
      )
    })
    yield* Effect.addFinalizer(() => close)

    return {
      userId: options.userId,
      events: Stream.fromPubSub(pubsub),
      subscribe: PubSub.subscribe(pubsub),
      status: Effect.sync(() => status),
      connect: Effect.suspend(() => {
        if (status !== "closed" && loop === undefined) loop = run(reconnecting)
        return Deferred.await(online)
      }),
      send: (roomId, content, sendOptions = {}) =>
        Effect.suspend(() => {
          if (status === "closed") return Effect.fail(closed())
          const id = newId()
          const clientMsgId = sendOptions.clientMsgId ?? id
          // The same key again while the first is still on its way: one send, one answer.
          const existing = sendOptions.clientMsgId === undefined
            ? undefined
            : [...pending.values()].find((p) => p.roomId === roomId && p.clientMsgId === clientMsgId)
          if (existing !== undefined) return Deferred.await(existing.done)
          const meta = sendOptions.meta ?? {}
          const frame = JSON.stringify({
            type: "send_message", request_id: id, client_msg_id: clientMsgId, room_id: roomId, content,
            ...(sendOptions.meta === undefined ? {} : { meta })
          })
          return Effect.flatMap(Deferred.make<SentMessage, ChatError | ClientClosed>(), (done) => {
            pending.set(id, { id, clientMsgId, roomId, content, meta, frame, done })
            write(frame)
            return Deferred.await(done)
          })
        }),
      markRead: (roomId, seq) => Effect.sync(() => {
        inbox.markRead(roomId, seq)
        flushAcks()
      }),
      ackNotification: (notificationId) => Effect.sync(() => {
        notificationsAcked.add(notificationId)
        write({ type: "ack", notification_id: notificationId })
      }),
      typing: (roomId, typing) => Effect.sync(() => write({ type: typing ? "typing.start" : "typing.stop", room_id: roomId })),
      follow: (roomId) => Effect.sync(() => {
        followed.add(roomId)
        write({ type: "subscribe", room_id: roomId })
      }),
      unfollow: (roomId) => Effect.sync(() => {
        followed.delete(roomId)
        write({ type: "unsubscribe", room_id: roomId })
      }),
      close
    } satisfies Realtime
  })

/** The realtime client as a service, for Effect applications. */
export class ChatRealtime extends Context.Tag("chatapi/client/ChatRealtime")<ChatRealtime, Realtime>() {
  static readonly layer = (options: RealtimeOptions) => Layer.scoped(ChatRealtime, make(options))
}
