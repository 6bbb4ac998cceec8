import { SqlClient } from "@effect/sql"
import { skipLocked } from "./Claim.js"
import { Effect } from "effect"
import { millis } from "./time.js"

export interface DueWebhook {
  readonly delivery_id: string
  readonly tenant_id: string
  readonly event: string
  readonly body: string
  readonly attempts: number
  readonly config: string
}

export interface WebhookDeadLetter {
  readonly delivery_id: string
  readonly tenant_id: string
  readonly event: string
  readonly attempts: number
  readonly last_attempt_at: number | null
  readonly error: string | null
}

const toDeadLetter = (r: WebhookDeadLetter): WebhookDeadLetter => ({
  ...r,
  attempts: Number(r.attempts),
  last_attempt_at: r.last_attempt_at === null ? null : Number(r.last_attempt_at)
})

/** The webhook outbox: one row per event, kept until the receiver answers 2xx or the attempts run out. */
export class WebhooksRepo extends Effect.Service<WebhooksRepo>()("db/WebhooksRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    const enqueue = (row: { deliveryId: string; tenantId: string; event: string; body: string; now: number }) =>
      sql`INSERT INTO webhook_deliveries (delivery_id, tenant_id, event, body, next_attempt_at, created_at)
          VALUES (${row.deliveryId}, ${row.tenantId}, ${row.event}, ${row.body}, ${row.now}, ${row.now})`.pipe(Effect.asVoid, Effect.orDie)

    /** Due rows, each leased until `leaseUntil` so that a slow call is not picked up twice. */
    const claim = (now: number, leaseUntil: number, limit: number) =>
      Effect.gen(function*() {
        const rows = yield* sql<DueWebhook>`SELECT w.delivery_id, w.tenant_id, w.event, w.body, w.attempts, t.config
            FROM webhook_deliveries w JOIN tenants t ON t.tenant_id = w.tenant_id
            WHERE w.status = 'pending' AND w.next_attempt_at <= ${now}
            ORDER BY w.next_attempt_at LIMIT ${limit} ${skipLocked(sql, "w")}`
        if (rows.length > 0) {
          yield* sql`UPDATE webhook_deliveries SET next_attempt_at = ${millis(leaseUntil)}
              WHERE ${sql.in("delivery_id", rows.map((r) => r.delivery_id))}`
        }
        return rows.map((r) => ({ ...r, attempts: Number(r.attempts) }))
      }).pipe(sql.withTransaction, Effect.orDie)

    const delivered = (deliveryId: string, now: number, status: number) =>
      sql`UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1, last_attempt_at = ${now},
            delivered_at = ${now}, last_status = ${status}, error = NULL
          WHERE delivery_id = ${deliveryId}`.pipe(Effect.asVoid, Effect.orDie)

    const failed = (deliveryId: string, f: { now: number; next: number; dead: boolean; status: number | null; error: string }) =>
      sql`UPDATE webhook_deliveries SET attempts = attempts + 1, last_attempt_at = ${millis(f.now)}, next_attempt_at = ${millis(f.next)},
            status = ${f.dead ? "dead" : "pending"}, last_status = ${f.status}, error = ${f.error}
          WHERE delivery_id = ${deliveryId}`.pipe(Effect.asVoid, Effect.orDie)

    /** Delivered events are kept for a while to look at, then dropped. */
    const purgeDelivered = (before: number) =>
      sql`DELETE FROM webhook_deliveries WHERE status = 'delivered' AND delivered_at < ${before}`.pipe(Effect.asVoid, Effect.orDie)

    const deadLetters = (tenantId: string | undefined, limit: number) =>
      sql<WebhookDeadLetter>`SELECT delivery_id, tenant_id, event, attempts, last_attempt_at, error
          FROM webhook_deliveries WHERE status = 'dead' AND ${tenantId === undefined ? sql`1 = 1` : sql`tenant_id = ${tenantId}`}
          ORDER BY last_attempt_at DESC LIMIT ${limit}`.pipe(Effect.map((rows) => rows.map(toDeadLetter)), Effect.orDie)

    /** Back to pending, attempts from zero, same delivery id. Returns how many went back. */
    const replay = (filter: { tenantId?: string | undefined; deliveryId?: string | undefined }, now: number) =>
      sql<{ delivery_id: string }>`UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = ${now}, error = NULL
          WHERE status = 'dead'
            AND ${filter.tenantId === undefined ? sql`1 = 1` : sql`tenant_id = ${filter.tenantId}`}
            AND ${filter.deliveryId === undefined ? sql`1 = 1` : sql`delivery_id = ${filter.deliveryId}`}
          RETURNING delivery_id`.pipe(Effect.map((rows) => rows.length), Effect.orDie)

    return { enqueue, claim, delivered, failed, purgeDelivered, deadLetters, replay } as const
  })
}) {}
