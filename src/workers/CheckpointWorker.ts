import { SqlClient } from "@effect/sql"
import { Effect, Layer, Schedule } from "effect"
import { AppConfig } from "../AppConfig.js"

/** Folds the SQLite write-ahead log back into the database and truncates it; logs what it did. */
export const checkpoint = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const started = performance.now()
  // TRUNCATE waits for readers (a backup in another process) through the busy handler, and the
  // driver waits synchronously: do not wait at all, report `busy` and try again next time.
  yield* sql.unsafe("PRAGMA busy_timeout = 0")
  const [row] = yield* sql.unsafe<{ busy: number; log: number; checkpointed: number }>("PRAGMA wal_checkpoint(TRUNCATE)").pipe(
    Effect.ensuring(Effect.orDie(sql.unsafe("PRAGMA busy_timeout = 5000")))
  )
  yield* Effect.logInfo("wal checkpoint").pipe(Effect.annotateLogs({
    busy: Number(row?.busy ?? 0),
    wal_pages: Number(row?.log ?? 0),
    checkpointed_pages: Number(row?.checkpointed ?? 0),
    duration_ms: Math.round((performance.now() - started) * 100) / 100
  }))
})

/** Every WAL_CHECKPOINT_INTERVAL (5 minutes by default), and once more when the server stops. */
export const CheckpointWorkerLive = Layer.scopedDiscard(Effect.gen(function*() {
  const config = yield* AppConfig
  if (config.database._tag !== "Sqlite") return
  const run = checkpoint.pipe(Effect.catchAllCause((cause) => Effect.logError("wal checkpoint failed", cause)))
  yield* Effect.addFinalizer(() => run)
  yield* run.pipe(Effect.repeat(Schedule.spaced(config.walCheckpointInterval)), Effect.delay(config.walCheckpointInterval), Effect.forkScoped)
}))
