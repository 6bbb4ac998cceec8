import { Chunk, Duration, Effect, Option, Schedule } from "effect"
import * as crypto from "node:crypto"
import { WebhooksRepo } from "../db/WebhooksRepo.js"
import type { TenantConfig } from "../domain/Tenant.js"

/** Events a tenant's webhook receives. */
export type WebhookEvent = "message.offline" | "notification.offline" | "delivery.dead_lettered"

const MAX_BACKOFF = Duration.hours(1)

/** Retries of one webhook event: exponential from the base, each delay jittered to 0.8-1.2x. */
export const webhookBackoff = (base: Duration.Duration) => Schedule.exponential(base, 2).pipe(Schedule.jittered)

/** The wait before the attempt after `attempts` failed ones, from `webhookBackoff`, at most an hour. */
export const retryDelay = (base: Duration.Duration, attempts: number) =>
  Schedule.run(Schedule.delays(webhookBackoff(base)), 0, Array.from({ length: Math.max(1, attempts) }, () => undefined)).pipe(
    Effect.map((delays) => Duration.min(Option.getOrElse(Chunk.last(delays), () => base), MAX_BACKOFF))
  )

/** `v1=` + hex HMAC-SHA256 of `timestamp + "." + body` under the tenant's webhook secret. */
export const sign = (secret: string, timestamp: number, body: string) =>
  `v1=${crypto.createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`

/** The headers of one attempt; the delivery id stays the same across attempts. */
export const webhookHeaders = (secret: string, d: { deliveryId: string; event: string; attempt: number; body: string }, now: number) => {
  const timestamp = Math.floor(now / 1000)
  return {
    "content-type": "application/json",
    "user-agent": "chatapi-webhooks",
    "x-chatapi-event": d.event,
    "x-chatapi-delivery": d.deliveryId,
    "x-chatapi-attempt": String(d.attempt),
    "x-chatapi-timestamp": String(timestamp),
    "x-chatapi-signature": sign(secret, timestamp, d.body)
  }
}

/** A tenant has a webhook when both its URL and its secret are set. */
export const webhookOf = (config: TenantConfig) =>
  config.webhook_url !== undefined && config.webhook_secret !== undefined
    ? Option.some({ url: config.webhook_url, secret: config.webhook_secret })
    : Option.none()

/** Puts events in the outbox; the webhook worker sends them. Nothing here calls a receiver. */
export class Webhooks extends Effect.Service<Webhooks>()("services/Webhooks", {
  dependencies: [WebhooksRepo.Default],
  effect: Effect.gen(function*() {
    const repo = yield* WebhooksRepo

    /** Queues one event for a tenant that has a webhook; a no-op for one that has none. */
    const enqueue = (tenantId: string, config: TenantConfig, event: WebhookEvent, data: Record<string, unknown>) =>
      Effect.suspend(() => {
        if (Option.isNone(webhookOf(config))) return Effect.void
        const now = Date.now()
        const deliveryId = `wh_${crypto.randomUUID()}`
        const body = JSON.stringify({ id: deliveryId, type: event, created_at: new Date(now).toISOString(), tenant_id: tenantId, data })
        return repo.enqueue({ deliveryId, tenantId, event, body, now }).pipe(
          Effect.tap(() => Effect.logDebug("webhook queued").pipe(Effect.annotateLogs({ tenant_id: tenantId, event, delivery_id: deliveryId })))
        )
      })

    return { enqueue } as const
  })
}) {}
