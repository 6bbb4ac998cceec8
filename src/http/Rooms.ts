import { HttpApiBuilder, HttpServerResponse } from "@effect/platform"
import { Effect, Schema } from "effect"
import { Api } from "../api/Api.js"
import { CurrentCaller } from "../api/Middleware.js"
import type { UserId } from "../domain/Ids.js"
import { ExistingRoom, MemberList, type Room, RoomList } from "../domain/Room.js"
import type { AuthenticatedTenant } from "../domain/Tenant.js"
import { Rooms } from "../services/Rooms.js"

/** Runs `f` with the caller's tenant id and user id (the request's log lines name them already). */
export const asCaller = <A, E, R>(f: (tenantId: AuthenticatedTenant["tenant"]["tenant_id"], userId: UserId) => Effect.Effect<A, E, R>) =>
  Effect.flatMap(CurrentCaller, (caller) => f(caller.tenant.tenant.tenant_id, caller.userId))

/** A new room as 201; an existing DM as 200 with that room, never a second one. */
export const createdRoom = (room: Room): Effect.Effect<Room | HttpServerResponse.HttpServerResponse> =>
  room instanceof ExistingRoom
    ? Effect.flatMap(Schema.encode(ExistingRoom)(room), (body) => HttpServerResponse.json(body, { status: 200 })).pipe(Effect.orDie)
    : Effect.succeed(room)

export const RoomsLive = HttpApiBuilder.group(Api, "rooms", (handlers) =>
  Effect.gen(function*() {
    const rooms = yield* Rooms
    return handlers
      .handle("create", ({ payload }) => asCaller((t, u) => Effect.flatMap(rooms.create(t, u, payload), createdRoom)))
      .handle("list", ({ urlParams }) =>
        asCaller((t, u) => Effect.map(rooms.list(t, u, urlParams.limit ?? 500), (list) => new RoomList({ rooms: list }, true))))
      .handle("get", ({ path }) => asCaller((t, u) => rooms.get(t, u, path.room_id)))
      .handle("update", ({ path, payload }) => asCaller((t, u) => rooms.update(t, u, path.room_id, payload)))
      .handle("members", ({ path }) =>
        asCaller((t, u) => Effect.map(rooms.members(t, u, path.room_id), (members) => new MemberList({ members }, true))))
      .handle("addMembers", ({ path, payload }) =>
        asCaller((t, u) => Effect.map(rooms.addMembers(t, u, path.room_id, payload), (members) => new MemberList({ members }, true))))
      .handle("removeMember", ({ path }) => asCaller((t, u) => rooms.removeMember(t, u, path.room_id, path.user_id)))
  }))
