import { Duration, Effect, Either, FiberSet, Layer, Schedule } from "effect"
import { AppConfig } from "../AppConfig.js"
import { parseJsonObject } from "../db/time.js"
import { type DueWebhook, WebhooksRepo } from "../db/WebhooksRepo.js"
import type { TenantConfig } from "../domain/Tenant.js"
import { Metrics } from "../services/Metrics.js"
import { Tenants } from "../services/Tenants.js"
import { retryDelay, webhookHeaders, webhookOf } from "../services/Webhooks.js"
import { post } from "../webhooks/Http.js"

/** Webhook calls in flight at once, over all tenants. */
const CONCURRENCY = 16
const KEEP_DELIVERED_MS = 24 * 3_600_000

/**
 * Sends the webhook outbox: each due event is leased, POSTed with a timeout, and marked delivered on
 * a 2xx; anything else is retried after `webhookBackoff` and dead-lettered after the tenant's
 * maximum. Calls run in their own fibers, so a receiver that hangs holds one slot, not the worker.
 */
export const WebhookWorkerLive = Layer.scopedDiscard(Effect.gen(function*() {
  const config = yield* AppConfig
  const repo = yield* WebhooksRepo
  const tenants = yield* Tenants
  const metrics = yield* Metrics
  const inFlight = yield* FiberSet.make()
  const leaseMs = Duration.toMillis(config.webhookTimeout) + 5_000

  const attempt = (row: DueWebhook) =>
    Effect.gen(function*() {
      const tenantConfig = parseJsonObject(row.config) as TenantConfig
      const hook = webhookOf(tenantConfig)
      const attemptNo = row.attempts + 1
      const started = Date.now()
      if (hook._tag === "None") {
        return yield* repo.failed(row.delivery_id, { now: started, next: started, dead: true, status: null, error: "the tenant has no webhook configured" })
      }
      const headers = webhookHeaders(hook.value.secret, { deliveryId: row.delivery_id, event: row.event, attempt: attemptNo, body: row.body }, started)
      const result = yield* Effect.either(post(hook.value.url, row.body, headers, { timeout: config.webhookTimeout, allowPrivate: config.webhookAllowPrivate }))
      const now = Date.now()
      if (Either.isRight(result)) {
        yield* repo.delivered(row.delivery_id, now, result.right)
        metrics.webhookCall(row.event, "delivered")
        return yield* Effect.logDebug("webhook delivered").pipe(Effect.annotateLogs({ status: result.right, duration_ms: now - started }))
      }
      const dead = attemptNo >= tenants.limits(tenantConfig).retryMaxAttempts
      const delay = yield* retryDelay(config.retryInterval, attemptNo)
      yield* repo.failed(row.delivery_id, { now, next: now + Duration.toMillis(delay), dead, status: result.left.status, error: result.left.reason })
      metrics.webhookCall(row.event, dead ? "dead_lettered" : "failed")
      if (dead) metrics.deadLettered("webhook")
      yield* (dead ? Effect.logWarning("webhook dead-lettered") : Effect.logInfo("webhook failed; will retry")).pipe(
        Effect.annotateLogs({ error: result.left.reason, ...(dead ? {} : { retry_in_ms: Math.round(Duration.toMillis(delay)) }) })
      )
    }).pipe(
      Effect.annotateLogs({ tenant_id: row.tenant_id, delivery_id: row.delivery_id, event: row.event, attempt: row.attempts + 1 }),
      Effect.catchAllCause((cause) => Effect.logError("webhook attempt failed", cause))
    )

  const tick = Effect.gen(function*() {
    const free = CONCURRENCY - (yield* FiberSet.size(inFlight))
    if (free <= 0) return
    const now = Date.now()
    for (const row of yield* repo.claim(now, now + leaseMs, free)) yield* FiberSet.run(inFlight, attempt(row))
  })

  yield* tick.pipe(
    Effect.catchAllCause((cause) => Effect.logError("webhook worker tick failed", cause)),
    Effect.repeat(Schedule.spaced(config.workerInterval)),
    Effect.forkScoped
  )
  yield* repo.purgeDelivered(Date.now() - KEEP_DELIVERED_MS).pipe(
    Effect.catchAllCause((cause) => Effect.logError("webhook purge failed", cause)),
    Effect.repeat(Schedule.spaced(Duration.hours(1))),
    Effect.forkScoped
  )
}))
