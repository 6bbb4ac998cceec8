import { SqlClient } from "@effect/sql"
import { CLAIM_LEASE_MS, skipLocked } from "./Claim.js"
import { Effect } from "effect"
import { millis } from "./time.js"

export interface DueDelivery {
  readonly tenant_id: string
  readonly room_id: string
  readonly user_id: string
  readonly from_seq: number
  readonly attempts: number
  readonly last_seq: number
  readonly last_ack: number
  readonly config: string
}

export interface Behind {
  readonly user_id: string
  readonly last_ack: number
  readonly last_seq: number
  readonly notified_seq: number
}

export interface DeadLetter {
  readonly tenant_id: string
  readonly room_id: string
  readonly user_id: string
  readonly from_seq: number
  readonly attempts: number
  readonly last_attempt_at: number | null
  readonly error: string | null
}

const toBehind = (r: Behind): Behind => ({
  user_id: r.user_id,
  last_ack: Number(r.last_ack),
  last_seq: Number(r.last_seq),
  notified_seq: Number(r.notified_seq)
})

const toDue = (r: DueDelivery): DueDelivery => ({
  ...r,
  from_seq: Number(r.from_seq),
  attempts: Number(r.attempts),
  last_seq: Number(r.last_seq),
  last_ack: Number(r.last_ack)
})

const toDeadLetter = (r: DeadLetter): DeadLetter => ({
  ...r,
  from_seq: Number(r.from_seq),
  attempts: Number(r.attempts),
  last_attempt_at: r.last_attempt_at === null ? null : Number(r.last_attempt_at)
})

/** The per-member delivery queue: who fell behind in which room, and how often we retried. */
export class UndeliveredRepo extends Effect.Service<UndeliveredRepo>()("db/UndeliveredRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    /** Members of a room behind its last seq, with their cursor and what a webhook last told of them. */
    const behind = (tenantId: string, roomId: string) =>
      sql<Behind>`SELECT m.user_id, COALESCE(d.last_ack, 0) AS last_ack, r.last_seq, COALESCE(u.notified_seq, 0) AS notified_seq
          FROM room_members m JOIN rooms r ON r.tenant_id = m.tenant_id AND r.room_id = m.room_id
          LEFT JOIN delivery_state d ON d.tenant_id = m.tenant_id AND d.room_id = m.room_id AND d.user_id = m.user_id
          LEFT JOIN undelivered_messages u ON u.tenant_id = m.tenant_id AND u.room_id = m.room_id AND u.user_id = m.user_id
          WHERE m.tenant_id = ${tenantId} AND m.room_id = ${roomId} AND COALESCE(d.last_ack, 0) < r.last_seq`.pipe(Effect.map((rows) => rows.map(toBehind)), Effect.orDie)

    const notified = (tenantId: string, roomId: string, userId: string, seq: number) =>
      sql`UPDATE undelivered_messages SET notified_seq = ${seq}
          WHERE tenant_id = ${tenantId} AND room_id = ${roomId} AND user_id = ${userId}`.pipe(Effect.asVoid, Effect.orDie)

    /** Queues the members who fell behind, in user order; one who is already queued keeps their entry. */
    const enqueue = (tenantId: string, roomId: string, users: ReadonlyArray<{ user_id: string; last_ack: number }>, now: number) =>
      Effect.forEach([...users].sort((a, b) => (a.user_id < b.user_id ? -1 : a.user_id > b.user_id ? 1 : 0)), (u) =>
        sql`INSERT INTO undelivered_messages (tenant_id, room_id, user_id, from_seq, next_attempt_at, created_at)
            VALUES (${tenantId}, ${roomId}, ${u.user_id}, ${u.last_ack + 1}, ${now}, ${now})
            ON CONFLICT (tenant_id, room_id, user_id) DO NOTHING`, { discard: true }).pipe(sql.withTransaction, Effect.orDie)

    /** Due entries, each leased to this instance for CLAIM_LEASE_MS (its outcome sets the next time). */
    const due = (now: number, limit: number) =>
      Effect.gen(function*() {
        const rows = yield* sql<DueDelivery>`SELECT u.tenant_id, u.room_id, u.user_id, u.from_seq, u.attempts, r.last_seq,
            COALESCE(d.last_ack, 0) AS last_ack, t.config
          FROM undelivered_messages u
          JOIN rooms r ON r.tenant_id = u.tenant_id AND r.room_id = u.room_id
          JOIN tenants t ON t.tenant_id = u.tenant_id
          LEFT JOIN delivery_state d ON d.tenant_id = u.tenant_id AND d.room_id = u.room_id AND d.user_id = u.user_id
          WHERE u.status = 'pending' AND u.next_attempt_at <= ${now}
          ORDER BY u.next_attempt_at LIMIT ${limit} ${skipLocked(sql, "u")}`
        for (const r of rows) {
          yield* sql`UPDATE undelivered_messages SET next_attempt_at = ${now + CLAIM_LEASE_MS}
              WHERE tenant_id = ${r.tenant_id} AND room_id = ${r.room_id} AND user_id = ${r.user_id}`
        }
        return rows.map(toDue)
      }).pipe(sql.withTransaction, Effect.orDie)

    const purge = (d: DueDelivery) =>
      sql`DELETE FROM undelivered_messages
          WHERE tenant_id = ${d.tenant_id} AND room_id = ${d.room_id} AND user_id = ${d.user_id}`.pipe(Effect.asVoid, Effect.orDie)

    const attempted = (d: DueDelivery, now: number, next: number, dead: string | null) =>
      sql`UPDATE undelivered_messages SET attempts = attempts + 1, last_attempt_at = ${now}, next_attempt_at = ${millis(next)},
            status = ${dead === null ? "pending" : "dead"}, error = ${dead}
          WHERE tenant_id = ${d.tenant_id} AND room_id = ${d.room_id} AND user_id = ${d.user_id}`.pipe(Effect.asVoid, Effect.orDie)

    const postpone = (d: DueDelivery, next: number) =>
      sql`UPDATE undelivered_messages SET next_attempt_at = ${millis(next)}
          WHERE tenant_id = ${d.tenant_id} AND room_id = ${d.room_id} AND user_id = ${d.user_id}`.pipe(Effect.asVoid, Effect.orDie)

    const deadLetters = (tenantId: string | undefined, limit: number) =>
      (tenantId === undefined
        ? sql<DeadLetter>`SELECT tenant_id, room_id, user_id, from_seq, attempts, last_attempt_at, error
            FROM undelivered_messages WHERE status = 'dead' ORDER BY last_attempt_at DESC LIMIT ${limit}`
        : sql<DeadLetter>`SELECT tenant_id, room_id, user_id, from_seq, attempts, last_attempt_at, error
            FROM undelivered_messages WHERE status = 'dead' AND tenant_id = ${tenantId}
            ORDER BY last_attempt_at DESC LIMIT ${limit}`).pipe(Effect.map((rows) => rows.map(toDeadLetter)), Effect.orDie)

    /** Back to pending with attempts from zero; how many went back. */
    const replay = (filter: { tenantId?: string | undefined; roomId?: string; userId?: string }, now: number) =>
      sql<{ user_id: string }>`UPDATE undelivered_messages SET status = 'pending', attempts = 0, next_attempt_at = ${now}, error = NULL
          WHERE status = 'dead'
            AND ${filter.tenantId === undefined ? sql`1 = 1` : sql`tenant_id = ${filter.tenantId}`}
            AND ${filter.roomId === undefined ? sql`1 = 1` : sql`room_id = ${filter.roomId}`}
            AND ${filter.userId === undefined ? sql`1 = 1` : sql`user_id = ${filter.userId}`}
          RETURNING user_id`.pipe(Effect.map((rows) => rows.length), Effect.orDie)

    return { behind, notified, enqueue, due, purge, attempted, postpone, deadLetters, replay } as const
  })
}) {}
