import { SqlClient } from "@effect/sql"
import { Effect, Option } from "effect"
import type { MessageId, RoomId, Seq, TenantId, UserId } from "../domain/Ids.js"
import { Message } from "../domain/Message.js"
import { iso, isoOrNull, parseJsonObject } from "./time.js"

export interface MessageRow {
  readonly message_id: string
  readonly room_id: string
  readonly seq: number
  readonly sender_id: string
  readonly content: string
  readonly meta: string
  readonly client_msg_id: string | null
  readonly created_at: number
  readonly edited_at: number | null
  readonly deleted_at: number | null
}

export const toMessage = (row: MessageRow) =>
  new Message({
    message_id: row.message_id as MessageId,
    room_id: row.room_id as RoomId,
    seq: Number(row.seq) as Seq,
    sender_id: row.sender_id as UserId,
    content: row.content,
    meta: parseJsonObject(row.meta),
    client_msg_id: row.client_msg_id,
    created_at: iso(row.created_at),
    edited_at: isoOrNull(row.edited_at),
    deleted: row.deleted_at !== null,
    deleted_at: isoOrNull(row.deleted_at)
  }, true)

const first = (rows: ReadonlyArray<MessageRow>) => Option.map(Option.fromNullable(rows[0]), toMessage)

export class MessagesRepo extends Effect.Service<MessagesRepo>()("db/MessagesRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    /** Takes the room's next seq; inside a transaction this row lock serialises senders. */
    const nextSeq = (tenantId: TenantId, roomId: RoomId, now: number) =>
      sql<{ last_seq: number }>`UPDATE rooms SET last_seq = last_seq + 1, last_activity_at = ${now}
          WHERE tenant_id = ${tenantId} AND room_id = ${roomId} RETURNING last_seq`.pipe(
        Effect.map((rows) => Number(rows[0]!.last_seq)),
        Effect.orDie
      )

    const insert = (tenantId: TenantId, m: Message) =>
      sql`INSERT INTO messages
          (tenant_id, room_id, seq, message_id, sender_id, content, meta, client_msg_id, created_at)
        VALUES (${tenantId}, ${m.room_id}, ${m.seq}, ${m.message_id}, ${m.sender_id}, ${m.content},
          ${JSON.stringify(m.meta)}, ${m.client_msg_id}, ${Date.parse(m.created_at)})`.pipe(Effect.asVoid, Effect.orDie)

    const findByClientId = (tenantId: TenantId, roomId: RoomId, senderId: UserId, clientMsgId: string) =>
      sql<MessageRow>`SELECT * FROM messages WHERE tenant_id = ${tenantId} AND room_id = ${roomId}
          AND sender_id = ${senderId} AND client_msg_id = ${clientMsgId}`.pipe(Effect.map(first), Effect.orDie)

    const findById = (tenantId: TenantId, roomId: RoomId, messageId: string) =>
      sql<MessageRow>`SELECT * FROM messages WHERE tenant_id = ${tenantId} AND message_id = ${messageId}
          AND room_id = ${roomId}`.pipe(Effect.map(first), Effect.orDie)

    /** Ascending pages: after a seq, before a seq, or the latest. One row more than asked tells `has_more`. */
    const page = (tenantId: TenantId, roomId: RoomId, q: { after?: number; before?: number; limit: number }) => {
      const rows = q.after !== undefined
        ? sql<MessageRow>`SELECT * FROM messages WHERE tenant_id = ${tenantId} AND room_id = ${roomId}
            AND seq > ${q.after} AND seq < ${q.before ?? Number.MAX_SAFE_INTEGER}
            ORDER BY seq ASC LIMIT ${q.limit + 1}`
        : sql<MessageRow>`SELECT * FROM messages WHERE tenant_id = ${tenantId} AND room_id = ${roomId}
            AND seq < ${q.before ?? Number.MAX_SAFE_INTEGER} ORDER BY seq DESC LIMIT ${q.limit + 1}`
      return rows.pipe(
        Effect.map((found) => {
          const hasMore = found.length > q.limit
          const kept = found.slice(0, q.limit)
          if (q.after === undefined) kept.reverse()
          return { messages: kept.map(toMessage), hasMore }
        }),
        Effect.orDie
      )
    }

    const edit = (tenantId: TenantId, m: Message) =>
      sql`UPDATE messages SET content = ${m.content}, meta = ${JSON.stringify(m.meta)}, edited_at = ${
        m.edited_at === null ? null : Date.parse(m.edited_at)
      }, deleted_at = ${m.deleted_at === null ? null : Date.parse(m.deleted_at)}
        WHERE tenant_id = ${tenantId} AND room_id = ${m.room_id} AND seq = ${m.seq}`.pipe(Effect.asVoid, Effect.orDie)

    /** Moves a read cursor forward only; returns the cursor after the move. */
    const ack = (tenantId: TenantId, roomId: RoomId, userId: UserId, seq: number) =>
      Effect.zipRight(
        sql`INSERT INTO delivery_state (tenant_id, room_id, user_id, last_ack, updated_at)
          VALUES (${tenantId}, ${roomId}, ${userId}, ${seq}, ${Date.now()})
          ON CONFLICT (tenant_id, room_id, user_id) DO UPDATE
            SET last_ack = excluded.last_ack, updated_at = excluded.updated_at
            WHERE delivery_state.last_ack < excluded.last_ack`,
        lastAck(tenantId, roomId, userId)
      ).pipe(Effect.orDie)

    const lastAck = (tenantId: TenantId, roomId: RoomId, userId: UserId) =>
      sql<{ last_ack: number }>`SELECT last_ack FROM delivery_state
          WHERE tenant_id = ${tenantId} AND room_id = ${roomId} AND user_id = ${userId}`.pipe(
        Effect.map((rows) => Number(rows[0]?.last_ack ?? 0)),
        Effect.orDie
      )

    const unread = (tenantId: TenantId, roomId: RoomId, userId: UserId, after: number) =>
      sql<{ n: number }>`SELECT COUNT(*) AS n FROM messages WHERE tenant_id = ${tenantId} AND room_id = ${roomId}
          AND seq > ${after} AND sender_id <> ${userId} AND deleted_at IS NULL`.pipe(
        Effect.map((rows) => Number(rows[0]?.n ?? 0)),
        Effect.orDie
      )

    /** Live messages from others in (after, upTo]: how many, and the latest `limit` of them in seq order. */
    const fromOthers = (tenantId: string, roomId: string, userId: string, after: number, upTo: number, limit: number) =>
      Effect.all([
        sql<{ n: number }>`SELECT COUNT(*) AS n FROM messages WHERE tenant_id = ${tenantId} AND room_id = ${roomId}
            AND seq > ${after} AND seq <= ${upTo} AND sender_id <> ${userId} AND deleted_at IS NULL`,
        sql<MessageRow>`SELECT * FROM messages WHERE tenant_id = ${tenantId} AND room_id = ${roomId}
            AND seq > ${after} AND seq <= ${upTo} AND sender_id <> ${userId} AND deleted_at IS NULL
            ORDER BY seq DESC LIMIT ${limit}`
      ]).pipe(
        Effect.map(([[count], rows]) => ({ count: Number(count?.n ?? 0), latest: rows.map(toMessage).reverse() })),
        Effect.orDie
      )

    return { nextSeq, insert, findByClientId, findById, page, edit, ack, lastAck, unread, fromOthers } as const
  })
}) {}
