import { SqlClient } from "@effect/sql"
import { Clock, Effect } from "effect"

export interface HealthReport {
  readonly status: "ok" | "unavailable"
  readonly uptime: number
  readonly db_writable: boolean
}

/** A real write to the store on every check. */
export class Health extends Effect.Service<Health>()("services/Health", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const startedAt = yield* Clock.currentTimeMillis

    const check = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const dbWritable = yield* sql`INSERT INTO health_probe (id, checked_at) VALUES (1, ${now})
          ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at`.pipe(
        Effect.as(true),
        Effect.catchAllCause((cause) => Effect.as(Effect.logWarning("health write failed", cause), false))
      )
      return {
        status: dbWritable ? "ok" : "unavailable",
        uptime: Math.floor((now - startedAt) / 1000),
        db_writable: dbWritable
      } satisfies HealthReport
    })

    return { check } as const
  })
}) {}
