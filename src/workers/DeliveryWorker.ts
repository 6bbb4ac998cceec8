import { Duration, Effect, Layer, Queue, Schedule } from "effect"
import { AppConfig } from "../AppConfig.js"
import { UndeliveredRepo } from "../db/UndeliveredRepo.js"
import { parseJsonObject } from "../db/time.js"
import { Bus } from "../realtime/Bus.js"
import { RealtimeHub } from "../realtime/Hub.js"
import { Tenants } from "../services/Tenants.js"

const BATCH = 500
const MAX_BACKOFF_MS = 3_600_000

/** Exponential backoff from RETRY_INTERVAL: 1×, 2×, 4×, … capped at an hour. */
export const backoff = (retryInterval: Duration.Duration, attempts: number) =>
  Math.min(MAX_BACKOFF_MS, Duration.toMillis(retryInterval) * 2 ** Math.max(0, attempts - 1))

/**
 * Off the send path: rooms that got messages are checked for members who fell behind and are not
 * connected here (one queue entry each); due entries are re-delivered to connected users, counted,
 * dead-lettered after the tenant's maximum, and purged once acked.
 */
export const DeliveryWorkerLive = Layer.scopedDiscard(Effect.gen(function*() {
  const config = yield* AppConfig
  const repo = yield* UndeliveredRepo
  const hub = yield* RealtimeHub
  const bus = yield* Bus
  const tenants = yield* Tenants
  const touched = new Map<string, { tenantId: string; roomId: string }>()

  const events = yield* bus.subscribe
  yield* Queue.take(events).pipe(
    Effect.map((e) => {
      if (e._tag === "RoomFrame" && e.seq !== undefined) touched.set(`${e.tenantId}\u0000${e.roomId}`, e)
    }),
    Effect.forever,
    Effect.forkScoped
  )

  const queueBehind = Effect.gen(function*() {
    const rooms = [...touched.values()]
    touched.clear()
    const now = Date.now()
    for (const { roomId, tenantId } of rooms) {
      const behind = yield* repo.behind(tenantId, roomId)
      yield* repo.enqueue(tenantId, roomId, behind.filter((u) => hub.connections(tenantId, u.user_id) === 0), now)
    }
  })

  const retryDue = Effect.gen(function*() {
    const now = Date.now()
    for (const d of yield* repo.due(now, BATCH)) {
      if (d.last_ack >= d.last_seq) {
        yield* repo.purge(d)
      } else if (hub.connections(d.tenant_id, d.user_id) > 0) {
        hub.resync(d.tenant_id, d.user_id, d.room_id)
        const attempts = d.attempts + 1
        const max = tenants.limits(parseJsonObject(d.config)).retryMaxAttempts
        const dead = attempts >= max ? `not acknowledged after ${attempts} attempts` : null
        yield* repo.attempted(d, now, now + backoff(config.retryInterval, attempts), dead)
        if (dead) {
          yield* Effect.logWarning("delivery dead-lettered").pipe(
            Effect.annotateLogs({ tenant_id: d.tenant_id, room_id: d.room_id, user_id: d.user_id, seq: d.from_seq })
          )
        }
      } else {
        yield* repo.postpone(d, now + Duration.toMillis(config.retryInterval))
      }
    }
  })

  yield* Effect.zipRight(queueBehind, retryDue).pipe(
    Effect.catchAllCause((cause) => Effect.logError("delivery worker tick failed", cause)),
    Effect.repeat(Schedule.spaced(config.workerInterval)),
    Effect.forkScoped
  )
}))
