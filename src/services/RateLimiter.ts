import { Clock, Effect, Option } from "effect"
import { makeOutage, Redis, type RedisConnection } from "../redis/Redis.js"
import { redisBucket } from "../redis/RedisRateLimiter.js"

export interface RateDecision {
  readonly allowed: boolean
  /** The bucket's capacity. */
  readonly limit: number
  /** Whole tokens left after this request. */
  readonly remaining: number
  /** Seconds until the bucket is full again. */
  readonly resetSeconds: number
  /** Seconds until one token is back (when refused). */
  readonly retryAfterSeconds: number
}

/** One token bucket per key, refilled continuously at `rate` tokens per second up to `burst`. */
export interface RateLimiterShape {
  readonly take: (key: string, rate: number, burst: number, cost?: number) => Effect.Effect<RateDecision>
}

/** The decision once a request was let through or not, with `tokens` left in the bucket. */
export const decide = (allowed: boolean, tokens: number, rate: number, burst: number, cost: number): RateDecision => ({
  allowed,
  limit: burst,
  remaining: Math.floor(tokens),
  resetSeconds: Math.ceil((burst - tokens) / rate),
  retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil((cost - tokens) / rate))
})

/** Buckets in this process: exact for one instance. */
export const memoryBuckets = (): RateLimiterShape => {
  const buckets = new Map<string, { tokens: number; updatedAt: number }>()
  return {
    take: (key, rate, burst, cost = 1) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const bucket = buckets.get(key) ?? { tokens: burst, updatedAt: now }
        bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.updatedAt) / 1000) * rate)
        bucket.updatedAt = now
        buckets.set(key, bucket)
        const allowed = bucket.tokens >= cost
        if (allowed) bucket.tokens -= cost
        return decide(allowed, bucket.tokens, rate, burst, cost)
      })
  }
}

/**
 * One bucket per key shared by every instance, in Redis. While Redis does not answer, this instance
 * falls back to its own bucket (so a tenant may briefly get the limit once per instance) rather
 * than refusing every request.
 */
const sharedBuckets = (redis: RedisConnection): Effect.Effect<RateLimiterShape> =>
  Effect.map(makeOutage("Redis rate limiter", "falling back to this instance's own bucket"), (outage) => {
    const local = memoryBuckets()
    const shared = redisBucket(redis)
    return {
      take: (key, rate, burst, cost = 1) =>
        shared(key, rate, burst, cost).pipe(
          Effect.map(({ allowed, tokens }) => {
            outage.recovered()
            return decide(allowed, tokens, rate, burst, cost)
          }),
          Effect.catchAll((e) => Effect.zipRight(Effect.sync(() => outage.failed(e.cause)), local.take(key, rate, burst, cost)))
        )
    }
  })

/** In process for one node; in Redis (one atomic script) when instances share a tenant's limit. */
export class RateLimiter extends Effect.Service<RateLimiter>()("services/RateLimiter", {
  dependencies: [Redis.Default],
  effect: Effect.flatMap(Redis, ({ connection }): Effect.Effect<RateLimiterShape> =>
    Option.match(connection, { onNone: () => Effect.sync(memoryBuckets), onSome: sharedBuckets }))
}) {}
