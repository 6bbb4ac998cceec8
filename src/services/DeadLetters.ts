import { Effect } from "effect"
import { NotificationsRepo } from "../db/NotificationsRepo.js"
import { isoOrNull } from "../db/time.js"
import { UndeliveredRepo } from "../db/UndeliveredRepo.js"
import { WebhooksRepo } from "../db/WebhooksRepo.js"
import { DeadLetter, type DeadLetterKind } from "../domain/DeadLetter.js"
import { notFound } from "../domain/Errors.js"

/** The keys of one dead letter, in an opaque id: `dl_` + base64url of [kind, tenant, ...keys]. */
export const deadLetterId = (kind: DeadLetterKind, ...keys: ReadonlyArray<string>) =>
  `dl_${Buffer.from(JSON.stringify([kind, ...keys])).toString("base64url")}`

const parseId = (id: string): [DeadLetterKind, ...Array<string>] | undefined => {
  if (!id.startsWith("dl_") || id.length > 2048) return undefined
  try {
    const keys = JSON.parse(Buffer.from(id.slice(3), "base64url").toString("utf8")) as unknown
    const arity = { message: 4, notification: 4, webhook: 3 } as Record<string, number>
    if (!Array.isArray(keys) || !keys.every((k) => typeof k === "string") || arity[keys[0]] !== keys.length) return undefined
    return keys as [DeadLetterKind, ...Array<string>]
  } catch {
    return undefined
  }
}

/** Every kind of delivery the workers gave up on: listed newest first, and put back to be tried again. */
export class DeadLetters extends Effect.Service<DeadLetters>()("services/DeadLetters", {
  dependencies: [UndeliveredRepo.Default, NotificationsRepo.Default, WebhooksRepo.Default],
  effect: Effect.gen(function*() {
    const messages = yield* UndeliveredRepo
    const notifications = yield* NotificationsRepo
    const webhooks = yield* WebhooksRepo

    const list = (tenantId: string | undefined, kind: DeadLetterKind | undefined, limit: number) =>
      Effect.gen(function*() {
        const wanted = (k: DeadLetterKind) => kind === undefined || kind === k
        const all: Array<DeadLetter & { readonly at: number }> = []
        const common = (r: { tenant_id: string; attempts: number; last_attempt_at: number | null; error: string | null }) => ({
          tenant_id: r.tenant_id,
          attempts: Number(r.attempts),
          last_attempt_at: isoOrNull(r.last_attempt_at),
          error: r.error
        })
        const add = (at: number | null, d: DeadLetter) => all.push(Object.assign(d, { at: Number(at ?? 0) }))
        if (wanted("message")) {
          for (const r of yield* messages.deadLetters(tenantId, limit)) {
            add(r.last_attempt_at, new DeadLetter({
              id: deadLetterId("message", r.tenant_id, r.room_id, r.user_id), kind: "message", ...common(r),
              room_id: r.room_id, user_id: r.user_id, from_seq: Number(r.from_seq)
            }, true))
          }
        }
        if (wanted("notification")) {
          for (const r of yield* notifications.deadLetters(tenantId, limit)) {
            add(r.last_attempt_at, new DeadLetter({
              id: deadLetterId("notification", r.tenant_id, r.notification_id, r.user_id), kind: "notification", ...common(r),
              notification_id: r.notification_id, user_id: r.user_id, topic: r.topic
            }, true))
          }
        }
        if (wanted("webhook")) {
          for (const r of yield* webhooks.deadLetters(tenantId, limit)) {
            add(r.last_attempt_at, new DeadLetter({
              id: deadLetterId("webhook", r.tenant_id, r.delivery_id), kind: "webhook", ...common(r),
              delivery_id: r.delivery_id, event: r.event
            }, true))
          }
        }
        return all.sort((a, b) => b.at - a.at).slice(0, limit).map(({ at: _, ...d }) => new DeadLetter(d, true))
      })

    /** One dead letter back to pending, attempts from zero; 404 when there is no such dead letter. */
    const replay = (id: string) =>
      Effect.gen(function*() {
        const keys = parseId(id)
        const now = Date.now()
        const n = keys === undefined
          ? 0
          : keys[0] === "message"
          ? yield* messages.replay({ tenantId: keys[1], roomId: keys[2]!, userId: keys[3]! }, now)
          : keys[0] === "notification"
          ? yield* notifications.replay({ tenantId: keys[1], notificationId: keys[2]!, userId: keys[3]! }, now)
          : yield* webhooks.replay({ tenantId: keys[1], deliveryId: keys[2]! }, now)
        return n === 0 ? yield* Effect.fail(notFound("dead letter")) : n
      })

    const replayAll = (tenantId: string | undefined, kind: DeadLetterKind | undefined) =>
      Effect.gen(function*() {
        const now = Date.now()
        const wanted = (k: DeadLetterKind) => kind === undefined || kind === k
        return (wanted("message") ? yield* messages.replay({ tenantId }, now) : 0) +
          (wanted("notification") ? yield* notifications.replay({ tenantId }, now) : 0) +
          (wanted("webhook") ? yield* webhooks.replay({ tenantId }, now) : 0)
      })

    return { list, replay, replayAll } as const
  })
}) {}
