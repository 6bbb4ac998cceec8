import { Effect, FiberMap, Option, Schema, type Scope } from "effect"
import { AppConfig } from "../AppConfig.js"
import { type DomainError, errorCodes, RateLimited, Unavailable, ValidationError } from "../domain/Errors.js"
import { isBadValue } from "../db/BadValue.js"
import { ClientFrame } from "../domain/Frames.js"
import type { TenantId, UserId } from "../domain/Ids.js"
import type { TenantLimits } from "../domain/Tenant.js"
import { Acks } from "../services/Acks.js"
import { Messages } from "../services/Messages.js"
import { Metrics } from "../services/Metrics.js"
import { Notifications } from "../services/Notifications.js"
import { RateLimiter } from "../services/RateLimiter.js"
import { Rooms } from "../services/Rooms.js"
import { Bus, roomFrame } from "./Bus.js"
import { type Conn, RealtimeHub } from "./Hub.js"

const decodeFrame = Schema.decodeUnknownEither(Schema.parseJson(ClientFrame))

const requestIdOf = (text: string) => {
  try {
    const id = (JSON.parse(text) as { request_id?: unknown }).request_id
    return typeof id === "string" ? id : undefined
  } catch {
    return undefined
  }
}

export interface FrameContext {
  readonly conn: Conn
  readonly tenantId: TenantId
  readonly userId: UserId
  readonly limits: TenantLimits
  readonly reply: (frame: Record<string, unknown>) => void
}

/** What a client frame does: every frame acts as the connection's own user, never another. */
export class ClientFrames extends Effect.Service<ClientFrames>()("realtime/ClientFrames", {
  dependencies: [RealtimeHub.Default, Bus.Default, RateLimiter.Default, AppConfig.Default],
  effect: Effect.gen(function*() {
    const config = yield* AppConfig
    const hub = yield* RealtimeHub
    const bus = yield* Bus
    const limiter = yield* RateLimiter
    const messages = yield* Messages
    const acks = yield* Acks
    const rooms = yield* Rooms
    const notifications = yield* Notifications
    const metrics = yield* Metrics

    /** A handler for one socket's raw frames; its typing timers live in the socket's scope. */
    const make = ({ conn, limits: tenantLimits, reply, tenantId, userId }: FrameContext) =>
      Effect.gen(function*() {
        const typingTimers = yield* FiberMap.make<string>()
        const typing = (roomId: string, action: "start" | "stop") =>
          bus.publish(roomFrame(tenantId, roomId, { type: "typing", room_id: roomId, user_id: userId, action }, { exceptUser: userId }))

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
                  metrics.rateLimited("ws")
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
              return "notification_id" in frame
                ? Effect.asVoid(notifications.ack(tenantId, userId, frame.notification_id))
                : Effect.asVoid(acks.ack(tenantId, userId, { room_id: frame.room_id, seq: frame.seq }))
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

        return (data: string | Uint8Array): Effect.Effect<void> => {
          const size = typeof data === "string" ? Buffer.byteLength(data) : data.byteLength
          if (size > config.maxFrameBytes) {
            return Effect.sync(() => reply({ type: "error", code: "PAYLOAD_TOO_LARGE", message: `frames are limited to ${config.maxFrameBytes} bytes` }))
          }
          const text = typeof data === "string" ? data : Buffer.from(data).toString("utf8")
          const decoded = decodeFrame(text)
          if (decoded._tag === "Left") {
            const requestId = requestIdOf(text)
            return Effect.sync(() =>
              reply({ type: "error", code: "VALIDATION_ERROR", message: "malformed or unknown frame", ...(requestId ? { request_id: requestId } : {}) }))
          }
          const requestId = decoded.right.request_id
          return handle(decoded.right).pipe(
            Effect.catchAll((e) => Effect.sync(() => fail(e, requestId))),
            // A defect (the store refused a value, or is down) answers this frame; the socket stays up.
            Effect.catchAllDefect((defect) =>
              Effect.zipRight(
                isBadValue(defect) ? Effect.void : Effect.logError("frame failed", defect),
                Effect.sync(() =>
                  fail(isBadValue(defect)
                    ? new ValidationError({ message: "a value cannot be stored (for example a NUL character)" })
                    : new Unavailable({ message: "the store is unavailable; retry later" }), requestId))
              ))
          )
        }
      }) satisfies Effect.Effect<unknown, never, Scope.Scope>

    return { make } as const
  })
}) {}
