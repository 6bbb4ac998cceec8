import { Effect, Queue, type Scope } from "effect"
import type { Metrics } from "../services/Metrics.js"
import type { BusEvent, BusShape, BusSignal } from "../realtime/Bus.js"
import { memoryBus } from "../realtime/BusMemory.js"
import { makeOutage, type RedisConnection } from "./Redis.js"

/** Marks "subscribed again after a disconnect" in the inbox; no published message is empty. */
const RESUBSCRIBED = ""
const GAP: BusSignal = { _tag: "Gap" }

/**
 * The bus across instances: one pub/sub channel per key prefix. Every event is delivered here at
 * once and published as `<instance id> <json>`; each instance skips its own echo, so a local
 * socket never waits on Redis nor gets an event twice. While Redis is down the live event is
 * dropped (counted, one warning per outage) and sends go on; after resubscribing, every local
 * socket catches up from the store.
 */
export const redisBus = (redis: RedisConnection, metrics: Metrics): Effect.Effect<BusShape, never, Scope.Scope> =>
  Effect.gen(function*() {
    const local = yield* memoryBus
    const channel = `${redis.prefix}bus`
    const self = `${redis.instanceId} `
    const outage = yield* makeOutage("Redis bus", "live events stay on this instance; other instances catch up from the store")
    const unpublished = (cause?: unknown) => {
      metrics.busDropped("redis_unavailable")
      outage.failed(cause)
    }
    const inbox = yield* Queue.dropping<string>(65_536)
    /** The inbox was full and dropped some: as good as a disconnect. */
    let overflowed = false
    const subscriber = yield* redis.dedicated

    subscriber.on("message", (_channel: string, message: string) => {
      if (!message.startsWith(self) && !Queue.unsafeOffer(inbox, message)) {
        overflowed = true
        metrics.busDropped("inbox_full")
      }
    })
    // Resubscribed by hand, so the catch-up starts only once the subscription is live again.
    const subscribe = (): void => {
      subscriber.subscribe(channel).then(
        () => Queue.unsafeOffer(inbox, RESUBSCRIBED),
        () => setTimeout(() => subscriber.status === "ready" && subscribe(), 1_000).unref()
      )
    }
    subscriber.on("ready", subscribe)
    if (subscriber.status === "ready") subscribe()
    redis.client.on("ready", outage.recovered)

    const decode = (message: string): BusSignal | undefined => {
      if (message === RESUBSCRIBED) return GAP
      try {
        const event = JSON.parse(message.slice(message.indexOf(" ") + 1)) as BusEvent
        return event._tag === "RoomFrame" ? { ...event, remote: true } : event
      } catch {
        return undefined
      }
    }
    yield* Queue.takeBetween(inbox, 1, 1_024).pipe(
      Effect.flatMap((messages) =>
        Effect.forEach(messages, (message) => {
          const signal = decode(message)
          return signal === undefined ? Effect.logWarning("undecodable bus message dropped") : local.publish(signal)
        }, { discard: true })
      ),
      Effect.zipRight(Effect.suspend(() => {
        if (!overflowed) return Effect.void
        overflowed = false
        return local.publish(GAP)
      })),
      Effect.forever,
      Effect.forkScoped
    )

    const publish = (event: BusEvent) =>
      Effect.zipRight(
        local.publish(event),
        Effect.sync(() => {
          if (redis.client.status !== "ready") return unpublished()
          // Not awaited: a send never waits on Redis. One connection keeps publish order.
          redis.client.publish(channel, self + JSON.stringify(event)).catch(unpublished)
        })
      )

    return { publish, subscribe: local.subscribe, gap: local.gap }
  })
