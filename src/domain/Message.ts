import { Schema } from "effect"
import { JsonObject, MessageId, RoomId, Seq, SeqFromString, UserId } from "./Ids.js"

/** A client-chosen key that makes a retried send return the original message. */
export const ClientMsgId = Schema.String.pipe(
  Schema.pattern(/^[\x21-\x7e]{1,128}$/, { message: () => "expected 1-128 printable ASCII characters" })
)

export class Message extends Schema.Class<Message>("Message")({
  message_id: MessageId,
  room_id: RoomId,
  seq: Seq,
  sender_id: UserId,
  content: Schema.String,
  meta: JsonObject,
  client_msg_id: Schema.NullOr(Schema.String),
  created_at: Schema.String,
  edited_at: Schema.NullOr(Schema.String),
  deleted: Schema.Boolean,
  deleted_at: Schema.NullOr(Schema.String)
}) {}

/** The `message` frame every member receives. */
export const messageFrame = (m: Message) => ({
  type: "message",
  room_id: m.room_id,
  seq: m.seq,
  message_id: m.message_id,
  sender_id: m.sender_id,
  content: m.content,
  meta: m.meta,
  client_msg_id: m.client_msg_id,
  created_at: m.created_at,
  edited_at: m.edited_at,
  deleted: m.deleted
})

export class MessagePage extends Schema.Class<MessagePage>("MessagePage")({
  messages: Schema.Array(Message),
  has_more: Schema.Boolean
}) {}

export const SendMessage = Schema.Struct({
  content: Schema.String,
  meta: Schema.optional(JsonObject),
  client_msg_id: Schema.optional(ClientMsgId)
})
export type SendMessage = typeof SendMessage.Type

export const EditMessage = Schema.Struct({
  content: Schema.optional(Schema.String),
  meta: Schema.optional(JsonObject)
})
export type EditMessage = typeof EditMessage.Type

const Limit = Schema.compose(Schema.NumberFromString, Schema.Int.pipe(Schema.between(1, 100)))

export const HistoryQuery = Schema.Struct({
  after_seq: Schema.optional(SeqFromString),
  before_seq: Schema.optional(SeqFromString),
  limit: Schema.optional(Limit)
})
export type HistoryQuery = typeof HistoryQuery.Type

export const AckRequest = Schema.Struct({
  room_id: RoomId,
  seq: Seq
})
export type AckRequest = typeof AckRequest.Type

export class AckResult extends Schema.Class<AckResult>("AckResult")({
  room_id: RoomId,
  last_ack: Seq,
  unread: Schema.Int
}) {}
