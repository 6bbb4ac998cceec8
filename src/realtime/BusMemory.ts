import { Effect, PubSub } from "effect"
import type { BusSignal } from "./Bus.js"

/** The in-process bus: one PubSub, every subscriber sees every event. */
export const memoryBus = Effect.map(
  Effect.acquireRelease(PubSub.bounded<BusSignal>(65_536), PubSub.shutdown),
  (pubsub) => ({
    publish: (event: BusSignal) => Effect.asVoid(PubSub.publish(pubsub, event)),
    subscribe: PubSub.subscribe(pubsub),
    gap: Effect.asVoid(PubSub.publish(pubsub, { _tag: "Gap" }))
  })
)
