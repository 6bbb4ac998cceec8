import { Socket } from "@effect/platform"
import { Deferred, Duration, Effect, FiberMap, Option, Queue, Schedule, Schema } from "effect"
import { AppConfig } from "../AppConfig.js"
import * as crypto from "node:crypto"
import type { Socket as NetSocket } from "node:net"
import { MessagesRepo } from "../db/MessagesRepo.js"
import { RoomsRepo } from "../db/RoomsRepo.js"
import { type DomainError, errorCodes, RateLimited } from "../domain/Errors.js"
import { ClientFrame, CloseCodes } from "../domain/Frames.js"
import type { RoomId, TenantId, UserId } from "../domain/Ids.js"
import type { AuthenticatedTenant } from "../domain/Tenant.js"
import { Acks } from "../services/Acks.js"
import { Messages, messageFrame } from "../services/Messages.js"
import { RateLimiter } from "../services/RateLimiter.js"
import { Rooms } from "../services/Rooms.js"
import { Bus, roomFrame } from "./Bus.js"
import { type Conn, type Outbound, RealtimeHub } from "./Hub.js"

const SYNC_PAGE = 500
/** Bytes the kernel may hold for a socket before the writer waits for it to drain. */
const HIGH_WATER = 256 * 1024

/** An unmasked WebSocket ping with no payload; clients answer with a pong. */
const PING_FRAME = Buffer.from([0x89, 0x00])

const decodeFrame = Schema.decodeUnknownEither(Schema.parseJson(ClientFrame))

export interface Session {
  readonly tenant: AuthenticatedTenant
  readonly userId: UserId
  readonly netSocket: NetSocket
}

/** The program of one socket: register, sync what was missed, then serve frames both ways. */
export class Connections extends Effect.Service<Connections>()("realtime/Connections", {
  dependencies: [RealtimeHub.Default, Bus.Default, MessagesRepo.Default, RoomsRepo.Default, RateLimiter.Default, AppConfig.Default],
  effect: Effect.gen(function*() {
    const config = yield* AppConfig
    const hub = yield* RealtimeHub
    const bus = yield* Bus
    const messagesRepo = yield* MessagesRepo
    const roomsRepo = yield* RoomsRepo
    const limiter = yield* RateLimiter
    const messages = yield* Messages
    const acks = yield* Acks
    const rooms = yield* Rooms

    const limits = { maxFrameBytes: config.maxFrameBytes, queue: config.sendQueueFrames }

    const run = (session: Session, socket: Socket.Socket) =>
      Effect.gen(function*() {
        const { tenant: { limits: tenantLimits, tenant }, userId } = session
        const tenantId = tenant.tenant_id as TenantId
        const write = yield* socket.writer
        const conn: Conn = {
          id: crypto.randomUUID(),
          tenantId,
          userId,
          queue: yield* Queue.bounded<Outbound>(limits.queue),
          kill: yield* Deferred.make<number>(),
          since: new Map()
        }
        const reply = (frame: Record<string, unknown>) => hub.deliver(conn, { data: JSON.stringify(frame) })

        const drained = Effect.async<void>((resume) => {
          if (session.netSocket.writableLength <= HIGH_WATER) return resume(Effect.void)
          const done = () => resume(Effect.void)
          session.netSocket.once("drain", done)
          session.netSocket.once("close", done)
          return Effect.sync(() => {
            session.netSocket.off("drain", done)
            session.netSocket.off("close", done)
          })
        })
        const send = (data: string) => Effect.zipRight(drained, Effect.orDie(write(data)))

        /** Messages of one room after `after`, up to `until` (inclusive), in seq order. */
        const catchUp = (roomId: string, after: number, until?: number) =>
          Effect.gen(function*() {
            let from = after
            for (;;) {
              const page = yield* messagesRepo.page(tenantId, roomId as RoomId, {
                after: from,
                ...(until === undefined ? {} : { before: until + 1 }),
                limit: SYNC_PAGE
              })
              for (const m of page.messages) yield* send(JSON.stringify(messageFrame(m)))
              const last = page.messages[page.messages.length - 1]
              if (last === undefined) return
              conn.since.set(roomId, Math.max(conn.since.get(roomId) ?? 0, last.seq))
              if (!page.hasMore) return
              from = last.seq
            }
          })

        /** Sends live frames in per-room seq order: older seqs are skipped, a gap is filled from the store. */
        const forward = (item: Outbound) =>
          Effect.gen(function*() {
            if (item.seq === undefined || item.roomId === undefined) return yield* send(item.data)
            const since = conn.since.get(item.roomId)
            if (since === undefined || item.seq <= since) return
            if (item.seq > since + 1) yield* catchUp(item.roomId, since, item.seq - 1)
            if (item.seq <= (conn.since.get(item.roomId) ?? 0)) return
            conn.since.set(item.roomId, item.seq)
            if (item.origin !== conn.id) yield* send(item.data)
          })

        // Register before reading the store, so nothing committed in between is missed.
        const cursors = yield* roomsRepo.cursors(tenantId, userId)
        yield* hub.register(conn, cursors)
        yield* Effect.forEach(cursors, ([roomId, lastAck]) => catchUp(roomId, lastAck), { discard: true }).pipe(
          Effect.zipRight(Effect.forever(Effect.flatMap(Queue.take(conn.queue), forward))),
          Effect.forkScoped
        )

        const typingTimers = yield* FiberMap.make<string>()
        const typing = (roomId: string, action: "start" | "stop") =>
          bus.publish(roomFrame(tenantId, roomId, { type: "typing", room_id: roomId, user_id: userId, action }, { exceptUser: userId }))

        // Heartbeat: a WebSocket ping frame every interval; a socket silent for the timeout is dropped.
        let lastHeard = Date.now()
        const heard = () => (lastHeard = Date.now())
        session.netSocket.on("data", heard)
        yield* Effect.addFinalizer(() => Effect.sync(() => session.netSocket.off("data", heard)))
        yield* Effect.sync(() => {
          if (Date.now() - lastHeard > Duration.toMillis(config.heartbeatTimeout)) {
            Deferred.unsafeDone(conn.kill, Effect.succeed(CloseCodes.heartbeatTimeout))
          } else if (session.netSocket.writable) {
            session.netSocket.write(PING_FRAME)
          }
        }).pipe(Effect.repeat(Schedule.spaced(config.heartbeatInterval)), Effect.delay(config.heartbeatInterval), Effect.forkScoped)

        const fail = (error: DomainError, requestId: string | undefined) =>
          reply({
            type: "error",
            code: errorCodes[error._tag],
            message: error.message,
            ...(error.field === undefined ? {} : { field: error.field }),
            ...(requestId === undefined ? {} : { request_id: requestId })
          })

        const handle = (frame: ClientFrame): Effect.Effect<void, DomainError> => {
          const rid = frame.request_id === undefined ? {} : { request_id: frame.request_id }
          switch (frame.type) {
            case "ping":
              return Effect.sync(() => reply({ type: "pong", ...rid }))
            case "send_message":
              return Effect.gen(function*() {
                const decision = yield* limiter.take(tenantId, tenantLimits.rateLimitPerSec, tenantLimits.burst)
                if (!decision.allowed) {
                  return fail(new RateLimited({ message: "rate limit exceeded", retryAfterSeconds: decision.retryAfterSeconds }), frame.request_id)
                }
                const m = yield* messages.send(tenantId, userId, frame.room_id, {
                  content: frame.content,
                  meta: frame.meta,
                  client_msg_id: frame.client_msg_id,
                  origin: conn.id
                }, tenantLimits)
                reply({ type: "message.sent", ...rid, room_id: m.room_id, seq: m.seq, message_id: m.message_id, created_at: m.created_at })
              })
            case "ack":
              return Effect.asVoid(acks.ack(tenantId, userId, { room_id: frame.room_id, seq: frame.seq }))
            case "typing.start":
              return Effect.flatMap(rooms.writable(tenantId, userId, frame.room_id), ({ room }) =>
                Effect.zipRight(
                  typing(room.room_id, "start"),
                  // Typing expires by itself unless renewed.
                  FiberMap.run(typingTimers, room.room_id, Effect.zipRight(Effect.sleep(config.typingTimeout), typing(room.room_id, "stop")))
                ))
            case "typing.stop":
              return Effect.flatMap(rooms.writable(tenantId, userId, frame.room_id), ({ room }) =>
                Effect.zipRight(FiberMap.remove(typingTimers, room.room_id), typing(room.room_id, "stop")))
            case "subscribe":
              return Effect.map(rooms.readable(tenantId, userId, frame.room_id), ({ room }) => hub.follow(conn, room.room_id, room.last_seq))
            case "unsubscribe":
              return Effect.flatMap(rooms.access(tenantId, userId, frame.room_id), ({ role, room }) =>
                Effect.sync(() => Option.isNone(role) && hub.unfollow(conn, room.room_id)))
          }
        }

        const inbound = yield* Queue.bounded<string | Uint8Array>(256)
        yield* Queue.take(inbound).pipe(
          Effect.flatMap((data) => {
            const size = typeof data === "string" ? Buffer.byteLength(data) : data.byteLength
            if (size > limits.maxFrameBytes) {
              return Effect.sync(() => reply({ type: "error", code: "PAYLOAD_TOO_LARGE", message: `frames are limited to ${limits.maxFrameBytes} bytes` }))
            }
            const text = typeof data === "string" ? data : Buffer.from(data).toString("utf8")
            const decoded = decodeFrame(text)
            if (decoded._tag === "Left") {
              const requestId = (() => {
                try {
                  const id = (JSON.parse(text) as { request_id?: unknown }).request_id
                  return typeof id === "string" ? id : undefined
                } catch {
                  return undefined
                }
              })()
              return Effect.sync(() =>
                reply({ type: "error", code: "VALIDATION_ERROR", message: "malformed or unknown frame", ...(requestId ? { request_id: requestId } : {}) }))
            }
            return handle(decoded.right).pipe(Effect.catchAll((e) => Effect.sync(() => fail(e, decoded.right.request_id))))
          }),
          Effect.forever,
          Effect.forkScoped
        )

        yield* Effect.raceFirst(
          socket.runRaw((data) => {
            if (!Queue.unsafeOffer(inbound, data)) Deferred.unsafeDone(conn.kill, Effect.succeed(CloseCodes.policy))
          }),
          Effect.flatMap(Deferred.await(conn.kill), (code) =>
            code === CloseCodes.heartbeatTimeout
              ? Effect.sync(() => session.netSocket.destroy())
              : Effect.orDie(write(new Socket.CloseEvent(code, code === CloseCodes.slowConsumer ? "slow consumer" : "policy violation"))))
        )
      }).pipe(Effect.scoped)

    return { run } as const
  })
}) {}
