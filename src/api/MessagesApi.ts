import { HttpApiEndpoint, HttpApiGroup } from "@effect/platform"
import { Schema } from "effect"
import { MessageId, RoomId } from "../domain/Ids.js"
import { AckRequest, AckResult, ClientMsgId, EditMessage, HistoryQuery, Message, MessagePage, SendMessage } from "../domain/Message.js"
import * as Errors from "./Errors.js"
import { UserAuth } from "./Middleware.js"
import { RoomPath } from "./RoomsApi.js"

/** The headers a send reads: an optional idempotency key. */
export const SendHeaders = Schema.Struct({ "idempotency-key": Schema.optional(ClientMsgId) })

const MessagePath = Schema.Struct({ room_id: RoomId, message_id: MessageId })

export class MessagesApi extends HttpApiGroup.make("messages")
  .add(
    HttpApiEndpoint.post("send", "/rooms/:room_id/messages")
      .setPath(RoomPath)
      .setHeaders(SendHeaders)
      .setPayload(SendMessage)
      .addSuccess(Message, { status: 201 })
      .addError(Errors.PayloadTooLarge)
  )
  .add(HttpApiEndpoint.get("history", "/rooms/:room_id/messages").setPath(RoomPath).setUrlParams(HistoryQuery).addSuccess(MessagePage))
  .add(
    HttpApiEndpoint.patch("edit", "/rooms/:room_id/messages/:message_id")
      .setPath(MessagePath)
      .setPayload(EditMessage)
      .addSuccess(Message)
      .addError(Errors.Conflict)
      .addError(Errors.PayloadTooLarge)
  )
  .add(HttpApiEndpoint.del("remove", "/rooms/:room_id/messages/:message_id").setPath(MessagePath).addSuccess(Message))
  .add(HttpApiEndpoint.post("ack", "/acks").setPayload(AckRequest).addSuccess(AckResult))
  .addError(Errors.ValidationError)
  .addError(Errors.NotFound)
  .addError(Errors.Forbidden)
  .middleware(UserAuth)
{}
