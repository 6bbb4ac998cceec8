import { Effect, LogLevel, Option } from "effect"
import { MessagesRepo } from "../db/MessagesRepo.js"
import { Conflict, Forbidden, notFound, PayloadTooLarge, ValidationError } from "../domain/Errors.js"
import type { TenantId, UserId } from "../domain/Ids.js"
import { type EditMessage, type HistoryQuery, Message, MessagePage, type SendMessage } from "../domain/Message.js"
import type { TenantLimits } from "../domain/Tenant.js"
import { Bus, roomFrame } from "../realtime/Bus.js"
import { Sequencer } from "./Sequencer.js"
import { Rooms } from "./Rooms.js"

export const MAX_META_BYTES = 16_384

const validateContent = (content: string, limits: TenantLimits): Effect.Effect<void, ValidationError | PayloadTooLarge> => {
  if (content.trim().length === 0) {
    return Effect.fail(new ValidationError({ message: "content must not be empty", field: "content" }))
  }
  if (content.includes("\u0000")) {
    return Effect.fail(new ValidationError({ message: "content must not contain a NUL character", field: "content" }))
  }
  if (Buffer.byteLength(content, "utf8") > limits.maxMessageBytes) {
    return Effect.fail(
      new PayloadTooLarge({ message: `content is over ${limits.maxMessageBytes} bytes`, field: "content" })
    )
  }
  return Effect.void
}

const validateMeta = (meta: Record<string, unknown> | undefined) =>
  meta !== undefined && Buffer.byteLength(JSON.stringify(meta), "utf8") > MAX_META_BYTES
    ? Effect.fail(new PayloadTooLarge({ message: `meta is over ${MAX_META_BYTES} bytes`, field: "meta" }))
    : Effect.void

export interface SendInput extends SendMessage {
  readonly idempotencyKey?: string | undefined
  /** The connection that sent it, which gets `message.sent` instead of `message`. */
  readonly origin?: string | undefined
}

export class Messages extends Effect.Service<Messages>()("services/Messages", {
  dependencies: [MessagesRepo.Default, Rooms.Default, Bus.Default, Sequencer.Default],
  effect: Effect.gen(function*() {
    const repo = yield* MessagesRepo
    const rooms = yield* Rooms
    const bus = yield* Bus
    const sequencer = yield* Sequencer
    /** An edit or delete, told to the room after it is stored. */
    const changed = (tenantId: TenantId, m: Message, type: string, fields: Record<string, unknown>) =>
      bus.publish(roomFrame(tenantId, m.room_id, { type, room_id: m.room_id, seq: m.seq, message_id: m.message_id, ...fields }))

    /** Validates a message, then has the sequencer store it with the room's next seq. */
    const send = (tenantId: TenantId, sender: UserId, roomId: string, input: SendInput, limits: TenantLimits) =>
      // Callbacks rather than a generator: this runs for every message.
      validateContent(input.content, limits).pipe(
        Effect.zipRight(validateMeta(input.meta)),
        Effect.zipRight(sequencer.append({
          tenantId,
          sender,
          roomId,
          content: input.content,
          meta: input.meta ?? {},
          key: input.idempotencyKey ?? input.client_msg_id ?? null,
          origin: input.origin
        })),
        // The caller's fiber names the tenant and user already (a request's, or the socket's).
        Effect.tap((message) =>
          Effect.whenLogLevel(
            Effect.logDebug("message stored").pipe(
              Effect.annotateLogs({ room_id: message.room_id, message_id: message.message_id, seq: message.seq })
            ),
            LogLevel.Debug
          )
        )
      )

    const history = (tenantId: TenantId, caller: UserId, roomId: string, q: HistoryQuery) =>
      Effect.gen(function*() {
        const { room } = yield* rooms.readable(tenantId, caller, roomId)
        const page = yield* repo.page(tenantId, room.room_id, {
          ...(q.after_seq === undefined ? {} : { after: q.after_seq }),
          ...(q.before_seq === undefined ? {} : { before: q.before_seq }),
          limit: q.limit ?? 50
        })
        return new MessagePage({ messages: page.messages, has_more: page.hasMore }, true)
      })

    const own = (tenantId: TenantId, caller: UserId, roomId: string, messageId: string) =>
      Effect.gen(function*() {
        const access = yield* rooms.readable(tenantId, caller, roomId)
        const found = yield* repo.findById(tenantId, access.room.room_id, messageId)
        if (Option.isNone(found)) return yield* Effect.fail(notFound("message"))
        return { access, message: found.value }
      })

    const edit = (tenantId: TenantId, caller: UserId, roomId: string, messageId: string, input: EditMessage, limits: TenantLimits) =>
      Effect.gen(function*() {
        if (input.content === undefined && input.meta === undefined) {
          return yield* Effect.fail(new ValidationError({ message: "nothing to change: give content or meta" }))
        }
        if (input.content !== undefined) yield* validateContent(input.content, limits)
        yield* validateMeta(input.meta)
        const { message } = yield* own(tenantId, caller, roomId, messageId)
        if (message.sender_id !== caller) return yield* Effect.fail(new Forbidden({ message: "only the sender may edit a message" }))
        if (message.deleted) return yield* Effect.fail(new Conflict({ message: "the message was deleted" }))
        const edited = new Message({
          ...message,
          content: input.content ?? message.content,
          meta: input.meta ?? message.meta,
          edited_at: new Date().toISOString()
        }, true)
        yield* repo.edit(tenantId, edited)
        yield* changed(tenantId, edited, "message.updated", { content: edited.content, meta: edited.meta, edited_at: edited.edited_at })
        return edited
      })

    /** The sender, or the room's owner or admins, delete; the seq stays as a tombstone. */
    const remove = (tenantId: TenantId, caller: UserId, roomId: string, messageId: string) =>
      Effect.gen(function*() {
        const { access, message } = yield* own(tenantId, caller, roomId, messageId)
        const moderator = Option.contains(access.role, "owner") || Option.contains(access.role, "admin")
        if (message.sender_id !== caller && !moderator) {
          return yield* Effect.fail(new Forbidden({ message: "only the sender may delete a message" }))
        }
        if (message.deleted) return message
        const tombstone = new Message({ ...message, content: "", meta: {}, deleted: true, deleted_at: new Date().toISOString() }, true)
        yield* repo.edit(tenantId, tombstone)
        yield* changed(tenantId, tombstone, "message.deleted", { deleted_at: tombstone.deleted_at })
        return tombstone
      })

    return { send, history, edit, remove } as const
  })
}) {}
