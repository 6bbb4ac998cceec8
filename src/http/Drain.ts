import { Effect, Layer } from "effect"
import { AppConfig } from "../AppConfig.js"
import { CloseCodes } from "../domain/Frames.js"
import { RealtimeHub } from "../realtime/Hub.js"
import { Lifecycle } from "./Lifecycle.js"

/**
 * Graceful shutdown, as the first thing released when the server stops: refuse new connections,
 * tell every socket `server.shutdown` and close it (1001), let requests in flight finish up to
 * SHUTDOWN_DRAIN_TIMEOUT, then drop what is left. Workers and the store close after this.
 */
export const DrainLive = Layer.scopedDiscard(Effect.gen(function*() {
  const lifecycle = yield* Lifecycle
  const hub = yield* RealtimeHub
  const { shutdownDrainTimeout } = yield* AppConfig
  yield* lifecycle.ready
  yield* Effect.addFinalizer(() =>
    Effect.gen(function*() {
      const sockets = hub.all()
      yield* Effect.logInfo("shutting down").pipe(Effect.annotateLogs({ sockets: sockets.length, in_flight: lifecycle.inFlight }))
      yield* lifecycle.startDrain
      for (const conn of sockets) conn.kill(CloseCodes.goingAway)
      const left = yield* lifecycle.awaitDrained(shutdownDrainTimeout)
      yield* Effect.logInfo("drained").pipe(Effect.annotateLogs({ dropped: left }))
    }))
}))
