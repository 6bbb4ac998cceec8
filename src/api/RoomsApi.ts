import { HttpApiEndpoint, HttpApiGroup } from "@effect/platform"
import { Schema } from "effect"
import { RoomId, UserId } from "../domain/Ids.js"
import { AddMembers, CreateRoom, ExistingRoom, MemberList, Room, RoomList, UpdateRoom } from "../domain/Room.js"
import * as Errors from "./Errors.js"
import { UserAuth } from "./Middleware.js"

export const RoomPath = Schema.Struct({ room_id: RoomId })

const ListQuery = Schema.Struct({
  limit: Schema.optional(Schema.compose(Schema.NumberFromString, Schema.Int.pipe(Schema.between(1, 1000))))
})

export class RoomsApi extends HttpApiGroup.make("rooms")
  .add(
    HttpApiEndpoint.post("create", "/rooms")
      .setPayload(CreateRoom)
      .addSuccess(Room, { status: 201 })
      .addSuccess(ExistingRoom, { status: 200 })
  )
  .add(HttpApiEndpoint.get("list", "/rooms").setUrlParams(ListQuery).addSuccess(RoomList))
  .add(
    HttpApiEndpoint.get("get", "/rooms/:room_id").setPath(RoomPath).addSuccess(Room)
      .addError(Errors.NotFound).addError(Errors.Forbidden)
  )
  .add(
    HttpApiEndpoint.patch("update", "/rooms/:room_id").setPath(RoomPath).setPayload(UpdateRoom).addSuccess(Room)
      .addError(Errors.NotFound).addError(Errors.Forbidden)
  )
  .add(
    HttpApiEndpoint.get("members", "/rooms/:room_id/members").setPath(RoomPath).addSuccess(MemberList)
      .addError(Errors.NotFound).addError(Errors.Forbidden)
  )
  .add(
    HttpApiEndpoint.post("addMembers", "/rooms/:room_id/members").setPath(RoomPath).setPayload(AddMembers)
      .addSuccess(MemberList).addError(Errors.NotFound).addError(Errors.Forbidden)
  )
  .add(
    HttpApiEndpoint.del("removeMember", "/rooms/:room_id/members/:user_id")
      .setPath(Schema.Struct({ room_id: RoomId, user_id: UserId }))
      .addError(Errors.NotFound).addError(Errors.Forbidden)
  )
  .addError(Errors.ValidationError)
  .middleware(UserAuth)
{}
