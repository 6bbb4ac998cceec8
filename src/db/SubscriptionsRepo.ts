import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export interface SubscriptionRow {
  readonly topic: string
  readonly created_at: number
}

const toRow = (r: SubscriptionRow): SubscriptionRow => ({ topic: r.topic, created_at: Number(r.created_at) })

/** A user's topic subscriptions, within one tenant. */
export class SubscriptionsRepo extends Effect.Service<SubscriptionsRepo>()("db/SubscriptionsRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    /** Subscribes once; true when the subscription is new. */
    const add = (tenantId: string, userId: string, topic: string, now: number) =>
      sql<{ topic: string }>`INSERT INTO notification_subscriptions (tenant_id, user_id, topic, created_at)
          VALUES (${tenantId}, ${userId}, ${topic}, ${now})
          ON CONFLICT (tenant_id, user_id, topic) DO NOTHING RETURNING topic`.pipe(Effect.map((rows) => rows.length > 0), Effect.orDie)

    const find = (tenantId: string, userId: string, topic: string) =>
      sql<SubscriptionRow>`SELECT topic, created_at FROM notification_subscriptions
          WHERE tenant_id = ${tenantId} AND user_id = ${userId} AND topic = ${topic}`.pipe(Effect.map((rows) => rows[0] && toRow(rows[0])), Effect.orDie)

    const count = (tenantId: string, userId: string) =>
      sql<{ n: number }>`SELECT COUNT(*) AS n FROM notification_subscriptions WHERE tenant_id = ${tenantId} AND user_id = ${userId}`.pipe(
        Effect.map((rows) => Number(rows[0]?.n ?? 0)),
        Effect.orDie
      )

    /** True when there was one to remove. */
    const remove = (tenantId: string, userId: string, topic: string) =>
      sql<{ topic: string }>`DELETE FROM notification_subscriptions
          WHERE tenant_id = ${tenantId} AND user_id = ${userId} AND topic = ${topic} RETURNING topic`.pipe(
        Effect.map((rows) => rows.length > 0),
        Effect.orDie
      )

    const list = (tenantId: string, userId: string) =>
      sql<SubscriptionRow>`SELECT topic, created_at FROM notification_subscriptions
          WHERE tenant_id = ${tenantId} AND user_id = ${userId} ORDER BY topic`.pipe(Effect.map((rows) => rows.map(toRow)), Effect.orDie)

    return { add, find, count, remove, list } as const
  })
}) {}
