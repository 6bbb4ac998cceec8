import { SqlClient } from "@effect/sql"
import { Effect, Option } from "effect"
import * as crypto from "node:crypto"
import { type NewMember, RoomsRepo } from "../db/RoomsRepo.js"
import { Forbidden, notFound, ValidationError } from "../domain/Errors.js"
import type { RoomId, TenantId, UserId } from "../domain/Ids.js"
import { Bus } from "../realtime/Bus.js"
import { type AddMembers, type CreateRoom, ExistingRoom, type Role, Room, type UpdateRoom } from "../domain/Room.js"

export const dmKey = (a: string, b: string) => (a < b ? `dm:${a}:${b}` : `dm:${b}:${a}`)

const forbidden = (message: string) => new Forbidden({ message })
/** Why a room refuses a non-member's message. */
export const writeRefusal = (type: Room["type"]) => forbidden(type === "channel" ? "join the channel first" : "not a member of this room")
const isManager = (role: Option.Option<Role>) => Option.contains(role, "owner") || Option.contains(role, "admin")

/** A room as one user sees it: the room and the user's role in it, if any. */
export interface RoomAccess {
  readonly room: Room
  readonly role: Option.Option<Role>
}

export class Rooms extends Effect.Service<Rooms>()("services/Rooms", {
  dependencies: [RoomsRepo.Default, Bus.Default],
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const repo = yield* RoomsRepo
    const bus = yield* Bus
    const membership = (tenantId: TenantId, roomId: RoomId, userIds: ReadonlyArray<UserId>, joined: boolean, since: number) =>
      Effect.forEach(userIds, (userId) => bus.publish({ _tag: "Membership", tenantId, roomId, userId, joined, since }), { discard: true })

    /** The room and the caller's role; 404 when it does not exist for this tenant. */
    const access = (tenantId: TenantId, userId: UserId, roomId: string) =>
      Effect.flatMap(
        repo.findWithRole(tenantId, roomId, userId),
        Option.match({ onNone: () => Effect.fail(notFound("room")), onSome: (access): Effect.Effect<RoomAccess> => Effect.succeed(access) })
      )

    /** Members read every room they are in; anyone in the tenant reads a channel. */
    const readable = (tenantId: TenantId, userId: UserId, roomId: string) =>
      Effect.filterOrFail(
        access(tenantId, userId, roomId),
        (a) => Option.isSome(a.role) || a.room.type === "channel",
        () => forbidden("not a member of this room")
      )

    /** Only members write; a channel must be joined first. */
    const writable = (tenantId: TenantId, userId: UserId, roomId: string) =>
      Effect.filterOrFail(
        access(tenantId, userId, roomId),
        (a) => Option.isSome(a.role),
        (a) => writeRefusal(a.room.type)
      )

    const create = (tenantId: TenantId, caller: UserId, input: CreateRoom) =>
      Effect.gen(function*() {
        const others = [...new Set(input.members)].filter((u) => u !== caller)
        if (input.type === "dm" && others.length !== 1) {
          return yield* Effect.fail(
            new ValidationError({ message: "a dm has exactly two distinct users", field: "members" })
          )
        }
        const now = new Date().toISOString()
        const room = new Room({
          room_id: crypto.randomUUID() as RoomId,
          type: input.type,
          name: input.name ?? null,
          metadata: input.metadata ?? {},
          unique_key: input.type === "dm" ? dmKey(caller, others[0]!) : null,
          last_seq: 0 as Room["last_seq"],
          created_by: caller,
          created_at: now,
          last_activity_at: now
        }, true)
        const members: Array<NewMember> = [
          { userId: caller, role: "owner" },
          ...others.map((userId) => ({ userId, role: "member" as const }))
        ]
        return yield* Effect.gen(function*() {
          if (yield* repo.insert(tenantId, room)) {
            yield* repo.addMembers(tenantId, room.room_id, members, 0)
            return room
          }
          const existing = yield* repo.findByUniqueKey(tenantId, room.unique_key!)
          return new ExistingRoom(Option.getOrThrow(existing), true)
        }).pipe(
          sql.withTransaction,
          Effect.orDie,
          Effect.tap((r) => r instanceof ExistingRoom ? Effect.void : membership(tenantId, r.room_id, members.map((m) => m.userId), true, 0))
        )
      }).pipe(Effect.annotateLogs({ tenant_id: tenantId, user_id: caller }))

    const get = (tenantId: TenantId, caller: UserId, roomId: string) =>
      Effect.map(readable(tenantId, caller, roomId), (a) => a.room)

    const list = (tenantId: TenantId, caller: UserId, limit: number) => repo.listForUser(tenantId, caller, limit)

    const update = (tenantId: TenantId, caller: UserId, roomId: string, patch: UpdateRoom) =>
      Effect.gen(function*() {
        const { role, room } = yield* readable(tenantId, caller, roomId)
        if (!(isManager(role) || (room.type === "dm" && Option.isSome(role)))) {
          return yield* Effect.fail(forbidden("only the room's owner or admins may change it"))
        }
        const name = patch.name === undefined ? room.name : patch.name
        const metadata = patch.metadata ?? room.metadata
        yield* repo.update(tenantId, room.room_id, name, metadata)
        return new Room({ ...room, name, metadata }, true)
      })

    const members = (tenantId: TenantId, caller: UserId, roomId: string) =>
      Effect.flatMap(readable(tenantId, caller, roomId), (a) => repo.members(tenantId, a.room.room_id))

    /** Owners and admins add anyone (only owners grant admin); anyone joins a channel by adding themself. */
    const addMembers = (tenantId: TenantId, caller: UserId, roomId: string, input: AddMembers) =>
      Effect.gen(function*() {
        const { role, room } = yield* readable(tenantId, caller, roomId)
        if (room.type === "dm") return yield* Effect.fail(forbidden("the members of a dm are fixed"))
        const role_ = input.role ?? "member"
        const joining = room.type === "channel" && input.user_ids.every((u) => u === caller) && role_ === "member"
        if (!isManager(role) && !joining) {
          return yield* Effect.fail(forbidden("only the room's owner or admins may add members"))
        }
        if (role_ === "admin" && !Option.contains(role, "owner")) {
          return yield* Effect.fail(forbidden("only the room's owner may add admins"))
        }
        const ids = [...new Set(input.user_ids)]
        const added = yield* repo.addMembers(tenantId, room.room_id, ids.map((userId) => ({ userId, role: role_ })), room.last_seq)
          .pipe(sql.withTransaction, Effect.orDie)
        yield* membership(tenantId, room.room_id, added, true, room.last_seq)
        const all = yield* repo.members(tenantId, room.room_id)
        const addedSet = new Set<string>(added)
        return all.filter((m) => addedSet.has(m.user_id))
      })

    /** Leave (oneself) or remove: owners remove anyone, admins remove plain members. */
    const removeMember = (tenantId: TenantId, caller: UserId, roomId: string, target: UserId) =>
      Effect.gen(function*() {
        const { role, room } = yield* readable(tenantId, caller, roomId)
        if (room.type === "dm") return yield* Effect.fail(forbidden("the members of a dm are fixed"))
        const targetRole = yield* repo.role(tenantId, room.room_id, target)
        if (Option.isNone(targetRole)) return yield* Effect.fail(notFound("member"))
        const allowed = caller === target ||
          Option.contains(role, "owner") ||
          (Option.contains(role, "admin") && targetRole.value === "member")
        if (!allowed) return yield* Effect.fail(forbidden("not allowed to remove this member"))
        yield* Effect.gen(function*() {
          yield* repo.removeMember(tenantId, room.room_id, target)
          if (targetRole.value !== "owner") return
          // The room keeps an owner: the longest-standing admin, else the longest-standing member.
          const rest = yield* repo.members(tenantId, room.room_id)
          const heir = rest.find((m) => m.role === "admin") ?? rest[0]
          if (heir && !rest.some((m) => m.role === "owner")) yield* repo.setRole(tenantId, room.room_id, heir.user_id, "owner")
        }).pipe(sql.withTransaction, Effect.orDie)
        yield* membership(tenantId, room.room_id, [target], false, room.last_seq)
      })

    return { access, readable, writable, create, get, list, update, members, addMembers, removeMember } as const
  })
}) {}
