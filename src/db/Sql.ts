import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, type Redacted } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { AppConfig } from "../AppConfig.js"
import * as Sqlite from "./Sqlite.js"

const pragmas = (walAutocheckpoint: number) =>
  Layer.effectDiscard(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql.unsafe("PRAGMA busy_timeout = 5000")
    // WAL + NORMAL: a commit survives a process crash; a power loss may drop the last commits.
    yield* sql.unsafe("PRAGMA synchronous = NORMAL")
    yield* sql.unsafe("PRAGMA foreign_keys = ON")
    yield* sql.unsafe(`PRAGMA wal_autocheckpoint = ${walAutocheckpoint}`)
  }))

const sqlite = (filename: string, walAutocheckpoint: number) =>
  pragmas(walAutocheckpoint).pipe(
    Layer.provideMerge(Layer.unwrapEffect(Effect.sync(() => {
      if (filename !== ":memory:") fs.mkdirSync(path.dirname(path.resolve(filename)), { recursive: true })
      return Sqlite.layer({ filename, prepareCacheSize: 500 })
    })))
  )

/** PostgreSQL at its default READ COMMITTED; BIGINT and COUNT come back as strings, so repositories read numbers with `Number`. */
const postgres = (url: Redacted.Redacted) =>
  PgClient.layer({ url, applicationName: "chatapi", connectTimeout: "10 seconds" })

/** The SQL client the configuration selects: SQLite by default, PostgreSQL for a `postgres://` DSN. */
export const SqlLive = Layer.unwrapEffect(Effect.gen(function*() {
  const config = yield* AppConfig
  const db = config.database
  return db._tag === "Postgres" ? postgres(db.url) : sqlite(db.filename, config.walAutocheckpoint)
})).pipe(Layer.orDie)
