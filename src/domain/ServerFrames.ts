import { Schema } from "effect"
import { JsonObject, MessageId, RoomId, Seq, UserId } from "./Ids.js"
import { Message } from "./Message.js"
import { NotificationId, Topic } from "./Notification.js"

const RequestId = Schema.optional(Schema.String)

const frame = <T extends string, F extends Schema.Struct.Fields>(type: T, fields: F) =>
  Schema.Struct({ type: Schema.Literal(type), ...fields })

const { deleted_at: _deletedAt, ...messageFields } = Message.fields

/** A message of a room, live or synced on connect (the stored message without deleted_at); a deleted one is a tombstone that keeps its seq. */
export const MessageFrame = frame("message", messageFields)
export type MessageFrame = typeof MessageFrame.Type

/** The reply to this socket's `send_message`: the message is stored. */
export const MessageSentFrame = frame("message.sent", {
  request_id: RequestId,
  room_id: RoomId,
  seq: Seq,
  message_id: MessageId,
  created_at: Schema.String
})
export type MessageSentFrame = typeof MessageSentFrame.Type

/** Which message a frame is about. */
const messageRef = { room_id: RoomId, seq: Seq, message_id: MessageId }

/** A message was edited. */
export const MessageUpdatedFrame = frame("message.updated", {
  ...messageRef,
  content: Schema.String,
  meta: JsonObject,
  edited_at: Schema.String
})
export type MessageUpdatedFrame = typeof MessageUpdatedFrame.Type

/** A message was deleted (it stays as a tombstone). */
export const MessageDeletedFrame = frame("message.deleted", {
  ...messageRef,
  deleted_at: Schema.String
})
export type MessageDeletedFrame = typeof MessageDeletedFrame.Type

/** A read receipt: `user_id` has read the room up to `seq`. */
export const AckReceivedFrame = frame("ack.received", { room_id: RoomId, seq: Seq, user_id: UserId })
export type AckReceivedFrame = typeof AckReceivedFrame.Type

/** A user who shares a room came online or went offline. */
export const PresenceFrame = frame("presence.update", { user_id: UserId, status: Schema.Literal("online", "offline") })
export type PresenceFrame = typeof PresenceFrame.Type

/** Someone started or stopped typing in a room. */
export const TypingFrame = frame("typing", { room_id: RoomId, user_id: UserId, action: Schema.Literal("start", "stop") })
export type TypingFrame = typeof TypingFrame.Type

/** A notification from `POST /notify`; ack it once handled. */
export const NotificationFrame = frame("notification", {
  notification_id: NotificationId,
  topic: Topic,
  payload: Schema.Unknown,
  created_at: Schema.String
})
export type NotificationFrame = typeof NotificationFrame.Type

/** A frame failed and changed nothing; the socket stays open. */
export const ErrorFrame = frame("error", {
  code: Schema.String,
  message: Schema.String,
  field: Schema.optional(Schema.String),
  request_id: RequestId
})
export type ErrorFrame = typeof ErrorFrame.Type

/** The reply to `ping`. */
export const PongFrame = frame("pong", { request_id: RequestId })

/** The server is going away: reconnect after `reconnect_after_ms`. */
export const ShutdownFrame = frame("server.shutdown", { reconnect_after_ms: Schema.Number })

/** Frames the server sends over `/ws` (docs/websocket.md). */
export const ServerFrame = Schema.Union(
  MessageFrame,
  MessageSentFrame,
  MessageUpdatedFrame,
  MessageDeletedFrame,
  AckReceivedFrame,
  PresenceFrame,
  TypingFrame,
  NotificationFrame,
  ErrorFrame,
  PongFrame,
  ShutdownFrame
)
export type ServerFrame = typeof ServerFrame.Type
