import { Args, Command } from "@effect/cli"
import { SqlClient } from "@effect/sql"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Console, Data, Effect } from "effect"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { AppConfig } from "../AppConfig.js"

export class BackupFailed extends Data.TaggedError("BackupFailed")<{ readonly message: string }> {}

const fail = (message: string) => Effect.fail(new BackupFailed({ message }))

/** The SQLite file the configuration selects, if it exists. */
const source = Effect.gen(function*() {
  const { database } = yield* AppConfig
  if (database._tag !== "Sqlite") {
    return yield* fail("backup works only with the SQLite store; DATABASE_DSN selects PostgreSQL (use pg_dump)")
  }
  if (database.filename === ":memory:") return yield* fail("backup needs a database file, not :memory:")
  if (!fs.existsSync(database.filename)) return yield* fail(`no database at ${database.filename}`)
  return database.filename
})

const fsync = (file: string) => {
  const fd = fs.openSync(file, "r")
  try {
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}

/**
 * `VACUUM INTO` copies one read snapshot, so writers in the server process carry on (WAL) and the
 * copy holds every transaction committed before it began. It goes to a temporary name first and is
 * linked into place only when complete: `FILE` is never half-written and never overwritten.
 */
const copy = (filename: string, target: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const partial = `${target}.partial-${crypto.randomBytes(6).toString("hex")}`
    yield* sql`VACUUM INTO ${partial}`.pipe(
      Effect.mapError((e) => new BackupFailed({ message: `backup failed: ${e.cause instanceof Error ? e.cause.message : e.message}` })),
      Effect.zipRight(Effect.try({
        try: () => {
          fsync(partial)
          fs.linkSync(partial, target)
          fsync(path.dirname(target))
        },
        catch: (e) =>
          new BackupFailed({
            message: (e as NodeJS.ErrnoException).code === "EEXIST"
              ? `${target} already exists; refusing to overwrite it`
              : `backup failed: ${e instanceof Error ? e.message : String(e)}`
          })
      })),
      Effect.ensuring(Effect.sync(() => fs.rmSync(partial, { force: true })))
    )
    return { file: target, source: filename, bytes: fs.statSync(target).size }
  }).pipe(Effect.provide(SqliteClient.layer({ filename, readonly: true, disableWAL: true })))

const file = Args.text({ name: "FILE" }).pipe(Args.withDescription("where to write the copy; must not exist yet"))

export const backup = Command.make("backup", { file }, ({ file }) =>
  Effect.gen(function*() {
    const target = path.resolve(file)
    if (fs.existsSync(target)) return yield* fail(`${target} already exists; refusing to overwrite it`)
    if (!fs.existsSync(path.dirname(target))) return yield* fail(`directory ${path.dirname(target)} does not exist`)
    const result = yield* copy(yield* source, target)
    yield* Console.log(JSON.stringify(result, null, 2))
  }).pipe(Effect.provide(AppConfig.Default))).pipe(
    Command.withDescription("Write a consistent copy of the SQLite database to FILE while the server keeps running.")
  )
