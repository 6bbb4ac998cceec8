import { Duration, Effect, Layer, Option, Queue, Schedule } from "effect"
import { AppConfig } from "../AppConfig.js"
import { MessagesRepo } from "../db/MessagesRepo.js"
import { NotificationsRepo, toNotification } from "../db/NotificationsRepo.js"
import { TenantsRepo } from "../db/TenantsRepo.js"
import { parseJsonObject } from "../db/time.js"
import { type Behind, UndeliveredRepo } from "../db/UndeliveredRepo.js"
import { notificationFrame } from "../domain/Notification.js"
import type { TenantConfig } from "../domain/Tenant.js"
import { Bus } from "../realtime/Bus.js"
import { RealtimeHub } from "../realtime/Hub.js"
import { deadLetterId } from "../services/DeadLetters.js"
import { Metrics } from "../services/Metrics.js"
import { Tenants } from "../services/Tenants.js"
import { Webhooks, webhookOf } from "../services/Webhooks.js"

const BATCH = 500
const MAX_BACKOFF_MS = 3_600_000
/** Messages listed in one `message.offline` event; `count` says how many there are in all. */
const OFFLINE_LISTED = 20

/** Exponential backoff from RETRY_INTERVAL: 1×, 2×, 4×, … capped at an hour. */
export const backoff = (retryInterval: Duration.Duration, attempts: number) =>
  Math.min(MAX_BACKOFF_MS, Duration.toMillis(retryInterval) * 2 ** Math.max(0, attempts - 1))

/**
 * Off the send path: rooms that got messages are checked for members who fell behind and are not
 * connected on any instance (one queue entry each, and a `message.offline` webhook event per member and tick
 * for what they were not yet told of); due message and notification deliveries are re-sent to
 * connected users, counted, dead-lettered after the tenant's maximum, and purged once acked.
 */
export const DeliveryWorkerLive = Layer.scopedDiscard(Effect.gen(function*() {
  const config = yield* AppConfig
  const repo = yield* UndeliveredRepo
  const messages = yield* MessagesRepo
  const notifications = yield* NotificationsRepo
  const tenantsRepo = yield* TenantsRepo
  const hub = yield* RealtimeHub
  const bus = yield* Bus
  const tenants = yield* Tenants
  const webhooks = yield* Webhooks
  const metrics = yield* Metrics
  const touched = new Map<string, { tenantId: string; roomId: string }>()

  const events = yield* bus.subscribe
  yield* Queue.take(events).pipe(
    Effect.map((e) => {
      // Each instance checks the rooms its own sends touched; another instance checks its own.
      if (e._tag === "RoomFrame" && e.seq !== undefined && e.remote !== true) touched.set(`${e.tenantId}\u0000${e.roomId}`, e)
    }),
    Effect.forever,
    Effect.forkScoped
  )

  const tenantConfig = (tenantId: string) =>
    Effect.map(tenantsRepo.findById(tenantId), Option.match({ onNone: () => ({}) as TenantConfig, onSome: (t) => t.tenant.config }))

  /** The attempt after `attempts`: when the next is due, and why it is the last when it is. */
  const nextAttempt = (attempts: number, cfg: TenantConfig, now: number) => {
    const n = attempts + 1
    return { attempts: n, next: now + backoff(config.retryInterval, n), dead: n >= tenants.limits(cfg).retryMaxAttempts ? `not acknowledged after ${n} attempts` : null }
  }

  const deadLettered = (tenantId: string, cfg: TenantConfig, data: { kind: "message" | "notification" } & Record<string, unknown>) =>
    Effect.zipRight(
      Effect.sync(() => metrics.deadLettered(data.kind)),
      Effect.zipRight(
      Effect.logWarning("delivery dead-lettered").pipe(Effect.annotateLogs({ tenant_id: tenantId, ...data })),
      webhooks.enqueue(tenantId, cfg, "delivery.dead_lettered", data)
    ))

  /** One `message.offline` event per offline member: the messages from others since the last one. */
  const tellOffline = (tenantId: string, roomId: string, cfg: TenantConfig, offline: ReadonlyArray<Behind>) =>
    Effect.forEach(offline, (u) =>
      Effect.gen(function*() {
        const lastSeq = Number(u.last_seq)
        const after = Math.max(Number(u.notified_seq), Number(u.last_ack))
        if (after >= lastSeq) return
        const { count, latest } = yield* messages.fromOthers(tenantId, roomId, u.user_id, after, lastSeq, OFFLINE_LISTED)
        if (count > 0) {
          yield* webhooks.enqueue(tenantId, cfg, "message.offline", {
            room_id: roomId, user_id: u.user_id, first_seq: after + 1, last_seq: lastSeq, count,
            messages: latest.map((m) => ({ message_id: m.message_id, seq: m.seq, sender_id: m.sender_id, content: m.content, created_at: m.created_at }))
          })
        }
        yield* repo.notified(tenantId, roomId, u.user_id, lastSeq)
      }), { discard: true })

  const queueBehind = Effect.gen(function*() {
    const rooms = [...touched.values()]
    touched.clear()
    const now = Date.now()
    for (const { roomId, tenantId } of rooms) {
      const behind = yield* repo.behind(tenantId, roomId)
      const online = yield* hub.online(tenantId, behind.map((u) => u.user_id))
      const offline = behind.filter((u) => !online.has(u.user_id))
      yield* repo.enqueue(tenantId, roomId, offline, now)
      const cfg = yield* tenantConfig(tenantId)
      if (offline.length > 0 && Option.isSome(webhookOf(cfg))) yield* tellOffline(tenantId, roomId, cfg, offline)
    }
  })

  /** One re-delivery counted: the next attempt scheduled, or this one the last, dead-lettered and told to the webhook. */
  const counted = (
    kind: "message" | "notification",
    d: { readonly tenant_id: string; readonly attempts: number; readonly config: string },
    now: number,
    record: (next: number, dead: string | null) => Effect.Effect<void>,
    keys: ReadonlyArray<string>,
    fields: Record<string, unknown>
  ) =>
    Effect.gen(function*() {
      metrics.retried(kind)
      const cfg = parseJsonObject(d.config) as TenantConfig
      const { attempts, dead, next } = nextAttempt(d.attempts, cfg, now)
      yield* record(next, dead)
      if (dead) {
        yield* deadLettered(d.tenant_id, cfg, { dead_letter_id: deadLetterId(kind, d.tenant_id, ...keys), kind, ...fields, attempts, error: dead })
      }
    })

  const retryMessages = Effect.gen(function*() {
    const now = Date.now()
    for (const d of yield* repo.due(now, BATCH)) {
      if (d.last_ack >= d.last_seq) {
        yield* repo.purge(d)
      } else if (yield* hub.isOnline(d.tenant_id, d.user_id)) {
        yield* hub.resync(d.tenant_id, d.user_id, d.room_id)
        yield* counted("message", d, now, (next, dead) => repo.attempted(d, now, next, dead), [d.room_id, d.user_id], {
          room_id: d.room_id, user_id: d.user_id, from_seq: Number(d.from_seq)
        })
      } else {
        yield* repo.postpone(d, now + Duration.toMillis(config.retryInterval))
      }
    }
  })

  /** Unacked notifications go again to connected recipients; the client dedupes by notification_id. */
  const retryNotifications = Effect.gen(function*() {
    const now = Date.now()
    for (const d of yield* notifications.due(now, BATCH)) {
      if (!(yield* hub.isOnline(d.tenant_id, d.user_id))) {
        yield* notifications.postpone(d, now + Duration.toMillis(config.retryInterval))
        continue
      }
      yield* bus.publish({ _tag: "UserFrame", tenantId: d.tenant_id, userIds: [d.user_id], data: JSON.stringify(notificationFrame(toNotification(d))), path: "retry" })
      yield* counted("notification", d, now, (next, dead) => notifications.attempted(d, now, next, dead), [d.notification_id, d.user_id], {
        notification_id: d.notification_id, user_id: d.user_id
      })
    }
  })

  yield* Effect.all([queueBehind, retryMessages, retryNotifications], { discard: true }).pipe(
    Effect.catchAllCause((cause) => Effect.logError("delivery worker tick failed", cause)),
    Effect.repeat(Schedule.spaced(config.workerInterval)),
    Effect.forkScoped
  )
}))
