import { Schema } from "effect"
import { JsonObject, RoomId, Seq } from "./Ids.js"
import { ClientMsgId } from "./Message.js"
import { NotificationId } from "./Notification.js"

const RequestId = Schema.optional(Schema.String.pipe(Schema.maxLength(128)))

const frame = <T extends string, F extends Schema.Struct.Fields>(type: T, fields: F) =>
  Schema.Struct({ type: Schema.Literal(type), request_id: RequestId, ...fields })

/** Frames a client sends over `/ws`. */
export const ClientFrame = Schema.Union(
  frame("send_message", { room_id: RoomId, content: Schema.String, meta: Schema.optional(JsonObject), client_msg_id: Schema.optional(ClientMsgId) }),
  frame("ack", { room_id: RoomId, seq: Seq }),
  frame("ack", { notification_id: NotificationId }),
  frame("typing.start", { room_id: RoomId }),
  frame("typing.stop", { room_id: RoomId }),
  frame("subscribe", { room_id: RoomId }),
  frame("unsubscribe", { room_id: RoomId }),
  frame("ping", {})
)
export type ClientFrame = typeof ClientFrame.Type

/** WebSocket close codes chatapi uses. */
export const CloseCodes = {
  /** The server is going away (shutdown). */
  goingAway: 1001,
  /** A policy was broken: the client sent frames faster than they are processed. */
  policy: 1008,
  /** The client did not drain its outbound queue: reconnect, sync catches up. */
  slowConsumer: 1013,
  /** Nothing heard from the client for HEARTBEAT_TIMEOUT (the socket is dropped, no close frame). */
  heartbeatTimeout: 4408
} as const
