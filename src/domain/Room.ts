import { Schema } from "effect"
import { JsonObject, RoomId, Seq, UserId } from "./Ids.js"

/** dm: exactly two users; group: private; channel: public inside the tenant. */
export const RoomType = Schema.Literal("dm", "group", "channel")
export type RoomType = typeof RoomType.Type

export const Role = Schema.Literal("owner", "admin", "member")
export type Role = typeof Role.Type

const RoomName = Schema.Trim.pipe(Schema.minLength(1), Schema.maxLength(200))

export const roomFields = {
  room_id: RoomId,
  type: RoomType,
  name: Schema.NullOr(Schema.String),
  metadata: JsonObject,
  unique_key: Schema.NullOr(Schema.String),
  last_seq: Seq,
  created_by: UserId,
  created_at: Schema.String,
  last_activity_at: Schema.String
}

export class Room extends Schema.Class<Room>("Room")(roomFields) {}

/** Returned with 200 when a DM between the two users already exists. */
export class ExistingRoom extends Schema.Class<ExistingRoom>("ExistingRoom")(roomFields) {}

/** One entry of the caller's room list, with the caller's read cursor. */
export class RoomSummary extends Schema.Class<RoomSummary>("RoomSummary")({
  ...roomFields,
  role: Role,
  last_ack: Seq,
  unread: Schema.Int
}) {}

export class RoomList extends Schema.Class<RoomList>("RoomList")({
  rooms: Schema.Array(RoomSummary)
}) {}

export class Member extends Schema.Class<Member>("Member")({
  user_id: UserId,
  role: Role,
  joined_at: Schema.String
}) {}

export class MemberList extends Schema.Class<MemberList>("MemberList")({
  members: Schema.Array(Member)
}) {}

export const CreateRoom = Schema.Struct({
  type: RoomType,
  members: Schema.Array(UserId).pipe(Schema.maxItems(1000)),
  name: Schema.optional(RoomName),
  metadata: Schema.optional(JsonObject)
})
export type CreateRoom = typeof CreateRoom.Type

export const UpdateRoom = Schema.Struct({
  name: Schema.optional(Schema.NullOr(RoomName)),
  metadata: Schema.optional(JsonObject)
})
export type UpdateRoom = typeof UpdateRoom.Type

export const AddMembers = Schema.Struct({
  user_ids: Schema.Array(UserId).pipe(Schema.minItems(1), Schema.maxItems(1000)),
  role: Schema.optional(Schema.Literal("admin", "member"))
})
export type AddMembers = typeof AddMembers.Type
