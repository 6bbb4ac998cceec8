import { SqlClient } from "@effect/sql"
import { Clock, Effect, Option } from "effect"
import { Redis } from "../redis/Redis.js"

export interface HealthReport {
  /** `degraded`: the store works but Redis does not, so live events stay on this instance and nothing is lost. */
  readonly status: "ok" | "degraded" | "unavailable"
  readonly uptime: number
  readonly db_writable: boolean
  /** Only when REDIS_URL is set: whether Redis answered a PING. */
  readonly redis?: "up" | "down"
}

/** A real write to the store, and a PING to Redis when there is one, on every check. */
export class Health extends Effect.Service<Health>()("services/Health", {
  dependencies: [Redis.Default],
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const { connection } = yield* Redis
    const startedAt = yield* Clock.currentTimeMillis

    const redisUp = Option.match(connection, {
      onNone: () => Effect.succeed(undefined),
      onSome: (redis) => redis.call((c) => c.ping()).pipe(Effect.as("up" as const), Effect.orElseSucceed(() => "down" as const))
    })

    const check = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const [dbWritable, redis] = yield* Effect.all([
        sql`INSERT INTO health_probe (id, checked_at) VALUES (1, ${now})
          ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at`.pipe(
          Effect.as(true),
          Effect.catchAllCause((cause) => Effect.as(Effect.logWarning("health write failed", cause), false))
        ),
        redisUp
      ], { concurrency: 2 })
      return {
        status: !dbWritable ? "unavailable" : redis === "down" ? "degraded" : "ok",
        uptime: Math.floor((now - startedAt) / 1000),
        db_writable: dbWritable,
        ...(redis === undefined ? {} : { redis })
      } satisfies HealthReport
    })

    return { check } as const
  })
}) {}
