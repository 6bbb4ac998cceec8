import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiMiddleware, HttpApiSecurity } from "@effect/platform"
import { Context, Schema } from "effect"
import type { TenantId, UserId } from "../domain/Ids.js"
import { UserId as UserIdSchema } from "../domain/Ids.js"
import { HistoryQuery, MessagePage } from "../domain/Message.js"
import { CreateRoom, ExistingRoom, MemberList, Room, RoomList } from "../domain/Room.js"
import { ConnectionToken } from "../domain/Token.js"
import { DecodeError } from "./Errors.js"
import * as Errors from "./Errors.js"
import { RoomPath } from "./RoomsApi.js"

/** The demo tenant's user a demo request acts for, from its connection token. */
export class DemoCaller extends Context.Tag("api/DemoCaller")<DemoCaller, {
  readonly tenantId: TenantId
  readonly userId: UserId
}>() {}

/** `Authorization: Bearer <connection token>`: only tokens of the demo tenant. */
export class DemoAuth extends HttpApiMiddleware.Tag<DemoAuth>()("api/DemoAuth", {
  failure: Errors.Unauthenticated,
  provides: DemoCaller,
  security: { token: HttpApiSecurity.bearer }
}) {}

/** The room's members connected right now: the snapshot that `presence.update` events then keep current. */
export class RoomPresence extends Schema.Class<RoomPresence>("RoomPresence")({ online: Schema.Array(UserIdSchema) }) {}

/** Signing in to the demo: any user id of the demo tenant, no password (it is a demo). */
export class DemoSessionApi extends HttpApiGroup.make("session")
  .add(
    HttpApiEndpoint.post("token", "/demo/token")
      .setPayload(Schema.Struct({ user_id: UserIdSchema }))
      .addSuccess(ConnectionToken, { status: 201 })
      .addError(Errors.ValidationError)
  )
{}

/** What the demo page reads for the signed-in user; sending, acks and typing go over the socket. */
export class DemoRoomsApi extends HttpApiGroup.make("rooms")
  .add(HttpApiEndpoint.get("list", "/demo/rooms").addSuccess(RoomList))
  .add(
    HttpApiEndpoint.post("create", "/demo/rooms")
      .setPayload(CreateRoom)
      .addSuccess(Room, { status: 201 })
      .addSuccess(ExistingRoom, { status: 200 })
  )
  .add(HttpApiEndpoint.get("members", "/demo/rooms/:room_id/members").setPath(RoomPath).addSuccess(MemberList))
  .add(HttpApiEndpoint.get("presence", "/demo/rooms/:room_id/presence").setPath(RoomPath).addSuccess(RoomPresence))
  .add(HttpApiEndpoint.get("history", "/demo/rooms/:room_id/messages").setPath(RoomPath).setUrlParams(HistoryQuery).addSuccess(MessagePage))
  .addError(Errors.ValidationError)
  .addError(Errors.NotFound)
  .addError(Errors.Forbidden)
  .middleware(DemoAuth)
{}

const base = HttpApi.make("chatapi-demo")
// Request decoding failures use the same §9 body as every other error.
;(base as { errorSchema: unknown }).errorSchema = DecodeError

/** The routes of `DEMO=1`, served next to the real API; the demo page's client is derived from it. */
export class DemoApi extends base.add(DemoSessionApi).add(DemoRoomsApi) {}
