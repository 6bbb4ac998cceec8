import { SqlClient } from "@effect/sql"
import { Duration, Effect } from "effect"
import * as crypto from "node:crypto"
import { AppConfig } from "../AppConfig.js"
import { NotificationsRepo, toNotification } from "../db/NotificationsRepo.js"
import { SubscriptionsRepo } from "../db/SubscriptionsRepo.js"
import { iso } from "../db/time.js"
import { Conflict, notFound, PayloadTooLarge, ValidationError } from "../domain/Errors.js"
import type { TenantId, UserId } from "../domain/Ids.js"
import {
  ExistingSubscription, MAX_PAYLOAD_BYTES, MAX_SUBSCRIPTIONS, NotificationAck, type NotificationId, notificationFrame,
  type NotifyRequest, NotifyResult, Subscription, type Topic
} from "../domain/Notification.js"
import type { AuthenticatedTenant } from "../domain/Tenant.js"
import { Bus } from "../realtime/Bus.js"
import { RealtimeHub } from "../realtime/Hub.js"
import { Webhooks } from "./Webhooks.js"

const SYNC_PAGE = 500

export class Notifications extends Effect.Service<Notifications>()("services/Notifications", {
  dependencies: [NotificationsRepo.Default, SubscriptionsRepo.Default, Webhooks.Default, RealtimeHub.Default, Bus.Default, AppConfig.Default],
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const repo = yield* NotificationsRepo
    const subscriptions = yield* SubscriptionsRepo
    const webhooks = yield* Webhooks
    const hub = yield* RealtimeHub
    const bus = yield* Bus
    const { retryInterval } = yield* AppConfig

    /**
     * Stores the notification with its recipients, resolved once (explicit users, room members, topic
     * subscribers; one delivery each), then tells the connected ones. Offline recipients are named in
     * one `notification.offline` webhook event, queued in the same transaction.
     */
    const notify = ({ tenant }: AuthenticatedTenant, input: NotifyRequest) =>
      Effect.gen(function*() {
        const tenantId = tenant.tenant_id
        if (input.payload === undefined) return yield* Effect.fail(new ValidationError({ message: "payload is required", field: "payload" }))
        const payload = JSON.stringify(input.payload)
        if (Buffer.byteLength(payload) > MAX_PAYLOAD_BYTES) {
          return yield* Effect.fail(new PayloadTooLarge({ message: `payload is over ${MAX_PAYLOAD_BYTES} bytes`, field: "payload" }))
        }
        const { room_id: roomId, topic_subscribers: toSubscribers, user_ids: userIds = [] } = input.targets
        if (userIds.length === 0 && roomId === undefined && toSubscribers !== true) {
          return yield* Effect.fail(new ValidationError({ message: "give user_ids, room_id or topic_subscribers: true", field: "targets" }))
        }
        if (roomId !== undefined && !(yield* repo.roomExists(tenantId, roomId))) return yield* Effect.fail(notFound("room"))
        const now = Date.now()
        const row = { notification_id: `nt_${crypto.randomUUID()}`, topic: input.topic, payload, created_at: now }
        const recipients = yield* Effect.gen(function*() {
          const audience = yield* repo.audience(tenantId, roomId, toSubscribers === true ? input.topic : undefined)
          const recipients = [...new Set([...userIds, ...audience])]
          yield* repo.insert(tenantId, row, recipients, now + Duration.toMillis(retryInterval))
          const online = yield* hub.online(tenantId, recipients)
          const offline = recipients.filter((u) => !online.has(u))
          if (offline.length > 0) {
            yield* webhooks.enqueue(tenantId, tenant.config, "notification.offline", {
              notification_id: row.notification_id, topic: row.topic, payload: input.payload, user_ids: offline
            })
          }
          return recipients
        }).pipe(sql.withTransaction, Effect.orDie)
        const notification = toNotification(row)
        if (recipients.length > 0) {
          yield* bus.publish({ _tag: "UserFrame", tenantId, userIds: recipients, data: JSON.stringify(notificationFrame(notification)), path: "live" })
        }
        yield* Effect.logInfo("notification stored").pipe(
          Effect.annotateLogs({ notification_id: row.notification_id, topic: row.topic, recipients: recipients.length })
        )
        return new NotifyResult({ notification_id: notification.notification_id, topic: notification.topic, created_at: notification.created_at, recipients: recipients.length }, true)
      }).pipe(Effect.annotateLogs({ tenant_id: tenant.tenant_id }))

    /** An acked notification is never delivered again; acking twice is harmless. */
    const ack = (tenantId: TenantId, userId: UserId, notificationId: string) =>
      Effect.flatMap(repo.ack(tenantId, userId, notificationId, Date.now()), (ackedAt) =>
        ackedAt === undefined
          ? Effect.fail(notFound("notification"))
          : Effect.succeed(new NotificationAck({ notification_id: notificationId as NotificationId, acked_at: iso(ackedAt) }, true)))

    const pending = (tenantId: TenantId, userId: UserId, limit: number) =>
      Effect.map(repo.pending(tenantId, userId, limit), (rows) => rows.map(toNotification))

    /** Streams every pending notification of a user, oldest first, as encoded frames. */
    const sync = (tenantId: string, userId: string, send: (data: string) => Effect.Effect<void>) =>
      Effect.gen(function*() {
        let after: { created_at: number; notification_id: string } | undefined
        for (;;) {
          const rows = yield* repo.pending(tenantId, userId, SYNC_PAGE, after)
          for (const row of rows) yield* send(JSON.stringify(notificationFrame(toNotification(row))))
          if (rows.length < SYNC_PAGE) return
          const last = rows[rows.length - 1]!
          after = { created_at: Number(last.created_at), notification_id: last.notification_id }
        }
      })

    const subscribe = (tenantId: TenantId, userId: UserId, topic: Topic) =>
      Effect.gen(function*() {
        const existing = yield* subscriptions.find(tenantId, userId, topic)
        if (existing !== undefined) return new ExistingSubscription({ topic, created_at: iso(existing.created_at) }, true)
        if ((yield* subscriptions.count(tenantId, userId)) >= MAX_SUBSCRIPTIONS) {
          return yield* Effect.fail(new Conflict({ message: `at most ${MAX_SUBSCRIPTIONS} subscriptions per user`, field: "topic" }))
        }
        const now = Date.now()
        const added = yield* subscriptions.add(tenantId, userId, topic, now)
        if (added) return new Subscription({ topic, created_at: iso(now) }, true)
        const raced = yield* subscriptions.find(tenantId, userId, topic)
        return new ExistingSubscription({ topic, created_at: iso(raced?.created_at ?? now) }, true)
      })

    const unsubscribe = (tenantId: TenantId, userId: UserId, topic: Topic) =>
      Effect.flatMap(subscriptions.remove(tenantId, userId, topic), (removed) => removed ? Effect.void : Effect.fail(notFound("subscription")))

    const listSubscriptions = (tenantId: TenantId, userId: UserId) =>
      Effect.map(subscriptions.list(tenantId, userId), (rows) =>
        rows.map((r) => new Subscription({ topic: r.topic as Topic, created_at: iso(r.created_at) }, true)))

    return { notify, ack, pending, sync, subscribe, unsubscribe, listSubscriptions } as const
  })
}) {}
