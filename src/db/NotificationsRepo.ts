import { SqlClient } from "@effect/sql"
import { CLAIM_LEASE_MS, skipLocked } from "./Claim.js"
import { Effect } from "effect"
import { type NotificationId, Notification, type Topic } from "../domain/Notification.js"
import { iso, millis } from "./time.js"

interface NotificationRow {
  readonly notification_id: string
  readonly topic: string
  readonly payload: string
  readonly created_at: number
}

export interface DueNotification extends NotificationRow {
  readonly tenant_id: string
  readonly user_id: string
  readonly attempts: number
  readonly config: string
}

export interface NotificationDeadLetter {
  readonly tenant_id: string
  readonly notification_id: string
  readonly user_id: string
  readonly topic: string
  readonly attempts: number
  readonly last_attempt_at: number | null
  readonly error: string | null
}

export const toNotification = (row: NotificationRow) =>
  new Notification({
    notification_id: row.notification_id as NotificationId,
    topic: row.topic as Topic,
    payload: JSON.parse(row.payload),
    created_at: iso(row.created_at)
  }, true)

const toRow = <A extends NotificationRow>(r: A): A => ({ ...r, created_at: Number(r.created_at) })

const toDue = (r: DueNotification): DueNotification => ({ ...toRow(r), attempts: Number(r.attempts) })

const toDeadLetter = (r: NotificationDeadLetter): NotificationDeadLetter => ({
  ...r,
  attempts: Number(r.attempts),
  last_attempt_at: r.last_attempt_at === null ? null : Number(r.last_attempt_at)
})

const CHUNK = 200

const chunks = <A>(items: ReadonlyArray<A>) =>
  Array.from({ length: Math.ceil(items.length / CHUNK) }, (_, i) => items.slice(i * CHUNK, (i + 1) * CHUNK))

/** Notifications, their per-recipient deliveries and the topic subscriptions they resolve through. */
export class NotificationsRepo extends Effect.Service<NotificationsRepo>()("db/NotificationsRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const where = (tenantId: string | undefined) => tenantId === undefined ? sql`1 = 1` : sql`d.tenant_id = ${tenantId}`

    const key = (d: { tenant_id: string; notification_id: string; user_id: string }) =>
      sql`tenant_id = ${d.tenant_id} AND notification_id = ${d.notification_id} AND user_id = ${d.user_id}`

    const roomExists = (tenantId: string, roomId: string) =>
      sql`SELECT 1 AS found FROM rooms WHERE tenant_id = ${tenantId} AND room_id = ${roomId}`.pipe(
        Effect.map((rows) => rows.length > 0),
        Effect.orDie
      )

    /** Members of the room and subscribers of the topic, as asked. */
    const audience = (tenantId: string, roomId: string | undefined, topic: string | undefined) =>
      Effect.all([
        roomId === undefined
          ? Effect.succeed([])
          : sql<{ user_id: string }>`SELECT user_id FROM room_members WHERE tenant_id = ${tenantId} AND room_id = ${roomId}`,
        topic === undefined
          ? Effect.succeed([])
          : sql<{ user_id: string }>`SELECT user_id FROM notification_subscriptions WHERE tenant_id = ${tenantId} AND topic = ${topic}`
      ]).pipe(Effect.map(([members, subscribers]) => [...members, ...subscribers].map((r) => r.user_id)), Effect.orDie)

    /** The notification and one pending delivery per recipient, first retried at `nextAttemptAt`. */
    const insert = (tenantId: string, n: NotificationRow, recipients: ReadonlyArray<string>, nextAttemptAt: number) =>
      Effect.gen(function*() {
        yield* sql`INSERT INTO notifications (tenant_id, notification_id, topic, payload, recipients, created_at)
            VALUES (${tenantId}, ${n.notification_id}, ${n.topic}, ${n.payload}, ${recipients.length}, ${n.created_at})`
        for (const users of chunks(recipients)) {
          yield* sql`INSERT INTO notification_deliveries ${
            sql.insert(users.map((user_id) => ({
              tenant_id: tenantId,
              notification_id: n.notification_id,
              user_id,
              next_attempt_at: millis(nextAttemptAt),
              created_at: n.created_at
            })))
          }`
        }
      }).pipe(Effect.orDie)

    /** A user's pending notifications, oldest first, after the (created_at, id) cursor. */
    const pending = (tenantId: string, userId: string, limit: number, after?: { created_at: number; notification_id: string }) =>
      sql<NotificationRow>`SELECT n.notification_id, n.topic, n.payload, n.created_at
          FROM notification_deliveries d
          JOIN notifications n ON n.tenant_id = d.tenant_id AND n.notification_id = d.notification_id
          WHERE d.tenant_id = ${tenantId} AND d.user_id = ${userId} AND d.status = 'pending'
            AND ${after === undefined ? sql`1 = 1` : sql`(d.created_at > ${after.created_at} OR (d.created_at = ${after.created_at} AND d.notification_id > ${after.notification_id}))`}
          ORDER BY d.created_at, d.notification_id LIMIT ${limit}`.pipe(Effect.map((rows) => rows.map(toRow)), Effect.orDie)

    /** Marks a delivery acked (once); the time it was acked, or none for an unknown recipient. */
    const ack = (tenantId: string, userId: string, notificationId: string, now: number) =>
      Effect.gen(function*() {
        yield* sql`UPDATE notification_deliveries SET status = 'acked', acked_at = ${now}
            WHERE tenant_id = ${tenantId} AND notification_id = ${notificationId} AND user_id = ${userId} AND acked_at IS NULL`
        const rows = yield* sql<{ acked_at: number | null }>`SELECT acked_at FROM notification_deliveries
            WHERE tenant_id = ${tenantId} AND notification_id = ${notificationId} AND user_id = ${userId}`
        return rows.length === 0 ? undefined : Number(rows[0]!.acked_at ?? now)
      }).pipe(Effect.orDie)

    /** Due deliveries, each leased to this instance for CLAIM_LEASE_MS (its outcome sets the next time). */
    const due = (now: number, limit: number) =>
      Effect.gen(function*() {
        const rows = yield* sql<DueNotification>`SELECT d.tenant_id, d.user_id, d.attempts, n.notification_id, n.topic, n.payload, n.created_at, t.config
          FROM notification_deliveries d
          JOIN notifications n ON n.tenant_id = d.tenant_id AND n.notification_id = d.notification_id
          JOIN tenants t ON t.tenant_id = d.tenant_id
          WHERE d.status = 'pending' AND d.next_attempt_at <= ${now}
          ORDER BY d.next_attempt_at LIMIT ${limit} ${skipLocked(sql, "d")}`
        for (const r of rows) yield* sql`UPDATE notification_deliveries SET next_attempt_at = ${now + CLAIM_LEASE_MS} WHERE ${key(r)}`
        return rows.map(toDue)
      }).pipe(sql.withTransaction, Effect.orDie)

    const attempted = (d: DueNotification, now: number, next: number, dead: string | null) =>
      sql`UPDATE notification_deliveries SET attempts = attempts + 1, last_attempt_at = ${now}, next_attempt_at = ${millis(next)},
            status = ${dead === null ? "pending" : "dead"}, error = ${dead}
          WHERE ${key(d)} AND status = 'pending'`.pipe(Effect.asVoid, Effect.orDie)

    const postpone = (d: DueNotification, next: number) =>
      sql`UPDATE notification_deliveries SET next_attempt_at = ${millis(next)} WHERE ${key(d)} AND status = 'pending'`.pipe(Effect.asVoid, Effect.orDie)

    const deadLetters = (tenantId: string | undefined, limit: number) =>
      sql<NotificationDeadLetter>`SELECT d.tenant_id, d.notification_id, d.user_id, n.topic, d.attempts, d.last_attempt_at, d.error
          FROM notification_deliveries d
          JOIN notifications n ON n.tenant_id = d.tenant_id AND n.notification_id = d.notification_id
          WHERE d.status = 'dead' AND ${where(tenantId)}
          ORDER BY d.last_attempt_at DESC LIMIT ${limit}`.pipe(Effect.map((rows) => rows.map(toDeadLetter)), Effect.orDie)

    const replay = (filter: { tenantId?: string | undefined; notificationId?: string; userId?: string }, now: number) =>
      sql<{ user_id: string }>`UPDATE notification_deliveries SET status = 'pending', attempts = 0, next_attempt_at = ${now}, error = NULL
          WHERE status = 'dead'
            AND ${filter.tenantId === undefined ? sql`1 = 1` : sql`tenant_id = ${filter.tenantId}`}
            AND ${filter.notificationId === undefined ? sql`1 = 1` : sql`notification_id = ${filter.notificationId}`}
            AND ${filter.userId === undefined ? sql`1 = 1` : sql`user_id = ${filter.userId}`}
          RETURNING user_id`.pipe(Effect.map((rows) => rows.length), Effect.orDie)

    return { roomExists, audience, insert, pending, ack, due, attempted, postpone, deadLetters, replay } as const
  })
}) {}
