import { Clock, Effect } from "effect"

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

interface Bucket {
  tokens: number
  updatedAt: number
}

/** One token bucket per key, refilled continuously at `rate` tokens per second up to `burst`. */
export class RateLimiter extends Effect.Service<RateLimiter>()("services/RateLimiter", {
  sync: () => {
    const buckets = new Map<string, Bucket>()

    const take = (key: string, rate: number, burst: number, cost = 1): Effect.Effect<RateDecision> =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const bucket = buckets.get(key) ?? { tokens: burst, updatedAt: now }
        bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.updatedAt) / 1000) * rate)
        bucket.updatedAt = now
        buckets.set(key, bucket)
        const allowed = bucket.tokens >= cost
        if (allowed) bucket.tokens -= cost
        return {
          allowed,
          limit: burst,
          remaining: Math.floor(bucket.tokens),
          resetSeconds: Math.ceil((burst - bucket.tokens) / rate),
          retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil((cost - bucket.tokens) / rate))
        }
      })

    return { take } as const
  }
}) {}
