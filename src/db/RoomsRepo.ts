import { SqlClient } from "@effect/sql"
import { Effect, Option } from "effect"
import type { RoomId, Seq, TenantId, UserId } from "../domain/Ids.js"
import { Member, type Role, Room, RoomSummary, type RoomType } from "../domain/Room.js"
import { iso, parseJsonObject } from "./time.js"

interface RoomRow {
  readonly room_id: string
  readonly type: RoomType
  readonly unique_key: string | null
  readonly name: string | null
  readonly metadata: string
  readonly last_seq: number
  readonly created_by: string
  readonly created_at: number
  readonly last_activity_at: number
}

interface SummaryRow extends RoomRow {
  readonly role: Role
  readonly last_ack: number
  readonly unread: number
}

const roomFields = (row: RoomRow) => ({
  room_id: row.room_id as RoomId,
  type: row.type,
  name: row.name,
  metadata: parseJsonObject(row.metadata),
  unique_key: row.unique_key,
  last_seq: Number(row.last_seq) as Seq,
  created_by: row.created_by as UserId,
  created_at: iso(row.created_at),
  last_activity_at: iso(row.last_activity_at)
})

export const toRoom = (row: RoomRow) => new Room(roomFields(row), true)

export interface NewMember {
  readonly userId: UserId
  readonly role: Role
}

const byUser = (a: NewMember, b: NewMember) => (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0)

export class RoomsRepo extends Effect.Service<RoomsRepo>()("db/RoomsRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    /** Inserts unless a room with the same unique key exists; true when inserted. */
    const insert = (tenantId: TenantId, room: Room) =>
      sql<{ room_id: string }>`INSERT INTO rooms
          (tenant_id, room_id, type, unique_key, name, metadata, last_seq, created_by, created_at, last_activity_at)
        VALUES (${tenantId}, ${room.room_id}, ${room.type}, ${room.unique_key}, ${room.name},
          ${JSON.stringify(room.metadata)}, 0, ${room.created_by}, ${Date.parse(room.created_at)},
          ${Date.parse(room.created_at)})
        ON CONFLICT (tenant_id, unique_key) DO NOTHING
        RETURNING room_id`.pipe(Effect.map((rows) => rows.length > 0), Effect.orDie)

    const find = (tenantId: TenantId, roomId: string) =>
      sql<RoomRow>`SELECT * FROM rooms WHERE tenant_id = ${tenantId} AND room_id = ${roomId}`.pipe(
        Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), toRoom)),
        Effect.orDie
      )

    const findByUniqueKey = (tenantId: TenantId, key: string) =>
      sql<RoomRow>`SELECT * FROM rooms WHERE tenant_id = ${tenantId} AND unique_key = ${key}`.pipe(
        Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), toRoom)),
        Effect.orDie
      )

    /** The room and the user's role in it, in one query. */
    const findWithRole = (tenantId: TenantId, roomId: string, userId: UserId) =>
      sql<RoomRow & { member_role: Role | null }>`SELECT r.*, m.role AS member_role FROM rooms r
          LEFT JOIN room_members m ON m.tenant_id = r.tenant_id AND m.room_id = r.room_id AND m.user_id = ${userId}
          WHERE r.tenant_id = ${tenantId} AND r.room_id = ${roomId}`.pipe(
        Effect.map((rows) =>
          Option.map(Option.fromNullable(rows[0]), (row) => ({ room: toRoom(row), role: Option.fromNullable(row.member_role) }))
        ),
        Effect.orDie
      )

    const update = (tenantId: TenantId, roomId: RoomId, name: string | null, metadata: Record<string, unknown>) =>
      sql`UPDATE rooms SET name = ${name}, metadata = ${JSON.stringify(metadata)}
          WHERE tenant_id = ${tenantId} AND room_id = ${roomId}`.pipe(Effect.asVoid, Effect.orDie)

    const role = (tenantId: TenantId, roomId: string, userId: UserId) =>
      sql<{ role: Role }>`SELECT role FROM room_members
          WHERE tenant_id = ${tenantId} AND room_id = ${roomId} AND user_id = ${userId}`.pipe(
        Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), (r) => r.role)),
        Effect.orDie
      )

    /**
     * Adds members who are not members yet; their read cursor starts at `lastAck`. Returns the added ids.
     * Rows are written in user order, so two concurrent additions to one room never wait on each other in a cycle.
     */
    const addMembers = (tenantId: TenantId, roomId: RoomId, members: ReadonlyArray<NewMember>, lastAck: number) =>
      Effect.gen(function*() {
        const now = Date.now()
        const added: Array<UserId> = []
        for (const member of [...members].sort(byUser)) {
          const rows = yield* sql<{ user_id: string }>`INSERT INTO room_members (tenant_id, room_id, user_id, role, joined_at)
            VALUES (${tenantId}, ${roomId}, ${member.userId}, ${member.role}, ${now})
            ON CONFLICT (tenant_id, room_id, user_id) DO NOTHING RETURNING user_id`
          if (rows.length === 0) continue
          added.push(member.userId)
          yield* sql`INSERT INTO delivery_state (tenant_id, room_id, user_id, last_ack, updated_at)
            VALUES (${tenantId}, ${roomId}, ${member.userId}, ${lastAck}, ${now})
            ON CONFLICT (tenant_id, room_id, user_id) DO UPDATE SET last_ack = excluded.last_ack, updated_at = excluded.updated_at`
        }
        return added
      }).pipe(Effect.orDie)

    const members = (tenantId: TenantId, roomId: RoomId) =>
      sql<{ user_id: string; role: Role; joined_at: number }>`SELECT user_id, role, joined_at FROM room_members
          WHERE tenant_id = ${tenantId} AND room_id = ${roomId} ORDER BY joined_at, user_id`.pipe(
        Effect.map((rows) =>
          rows.map((r) => new Member({ user_id: r.user_id as UserId, role: r.role, joined_at: iso(r.joined_at) }, true))
        ),
        Effect.orDie
      )

    const removeMember = (tenantId: TenantId, roomId: RoomId, userId: UserId) =>
      Effect.all([
        sql`DELETE FROM room_members WHERE tenant_id = ${tenantId} AND room_id = ${roomId} AND user_id = ${userId}`,
        sql`DELETE FROM delivery_state WHERE tenant_id = ${tenantId} AND room_id = ${roomId} AND user_id = ${userId}`
      ], { discard: true }).pipe(Effect.orDie)

    const setRole = (tenantId: TenantId, roomId: RoomId, userId: UserId, role: Role) =>
      sql`UPDATE room_members SET role = ${role}
          WHERE tenant_id = ${tenantId} AND room_id = ${roomId} AND user_id = ${userId}`.pipe(Effect.asVoid, Effect.orDie)

    /** The caller's rooms, most recent activity first, with cursor and unread count (others' live messages). */
    const listForUser = (tenantId: TenantId, userId: UserId, limit: number) =>
      sql<SummaryRow>`SELECT r.*, m.role AS role, COALESCE(d.last_ack, 0) AS last_ack,
          (SELECT COUNT(*) FROM messages x
            WHERE x.tenant_id = r.tenant_id AND x.room_id = r.room_id AND x.seq > COALESCE(d.last_ack, 0)
              AND x.sender_id <> m.user_id AND x.deleted_at IS NULL) AS unread
        FROM room_members m
        JOIN rooms r ON r.tenant_id = m.tenant_id AND r.room_id = m.room_id
        LEFT JOIN delivery_state d ON d.tenant_id = m.tenant_id AND d.room_id = m.room_id AND d.user_id = m.user_id
        WHERE m.tenant_id = ${tenantId} AND m.user_id = ${userId}
        ORDER BY r.last_activity_at DESC, r.room_id
        LIMIT ${limit}`.pipe(
        Effect.map((rows) =>
          rows.map((row) =>
            new RoomSummary({
              ...roomFields(row),
              role: row.role,
              last_ack: Number(row.last_ack) as Seq,
              unread: Number(row.unread)
            }, true)
          )
        ),
        Effect.orDie
      )

    /** A user's rooms, each with what the user acked and the room's last seq. */
    const cursors = (tenantId: TenantId, userId: UserId) =>
      sql<{ room_id: string; last_ack: number; last_seq: number }>`SELECT m.room_id, COALESCE(d.last_ack, 0) AS last_ack, r.last_seq
          FROM room_members m
          JOIN rooms r ON r.tenant_id = m.tenant_id AND r.room_id = m.room_id
          LEFT JOIN delivery_state d ON d.tenant_id = m.tenant_id AND d.room_id = m.room_id AND d.user_id = m.user_id
          WHERE m.tenant_id = ${tenantId} AND m.user_id = ${userId}`.pipe(
        Effect.map((rows) => new Map(rows.map((r) => [r.room_id, { lastAck: Number(r.last_ack), lastSeq: Number(r.last_seq) }]))),
        Effect.orDie
      )

    return { cursors, insert, find, findWithRole, findByUniqueKey, update, role, addMembers, members, removeMember, setRole, listForUser } as const
  })
}) {}
