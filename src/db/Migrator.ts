import { SqlClient } from "@effect/sql"
import { Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

/** Top-level `migrations/`, from `src/db` as from `dist/db`. */
export const migrationsDir = process.env.CHATAPI_MIGRATIONS_DIR ??
  path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "migrations")

export interface Migration {
  readonly version: number
  readonly name: string
  readonly statements: ReadonlyArray<string>
}

/** `0001_name.sql` files; statements end with `;` at the end of a line. */
export const loadMigrations = (dir: string): ReadonlyArray<Migration> =>
  fs.readdirSync(dir)
    .flatMap((file) => {
      const match = /^(\d+)_(.+)\.sql$/.exec(file)
      if (!match) return []
      const text = fs.readFileSync(path.join(dir, file), "utf8")
      const statements = text
        .split(/;\s*$/m)
        .map((s) => s.replace(/^\s*--.*$/gm, "").trim())
        .filter((s) => s.length > 0)
      return [{ version: Number(match[1]), name: match[2]!, statements }]
    })
    .sort((a, b) => a.version - b.version)

/** Any number that names the migrator's PostgreSQL advisory lock. */
const MIGRATION_LOCK = 727_386_001

/** Applies pending migrations in order, each in its own transaction (a savepoint on PostgreSQL), recorded in `schema_migrations`. */
const applyPending = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at BIGINT NOT NULL
  )`
  const applied = new Set(
    (yield* sql<{ version: number }>`SELECT version FROM schema_migrations`).map((r) => Number(r.version))
  )
  const pending = loadMigrations(migrationsDir).filter((m) => !applied.has(m.version))
  for (const migration of pending) {
    yield* Effect.forEach(migration.statements, (statement) => sql.unsafe(statement), { discard: true }).pipe(
      Effect.zipRight(
        sql`INSERT INTO schema_migrations (version, name, applied_at) VALUES (${migration.version}, ${migration.name}, ${Date.now()})`
      ),
      sql.withTransaction
    )
    yield* Effect.logInfo("migration applied").pipe(
      Effect.annotateLogs({ version: migration.version, name: migration.name })
    )
  }
  return pending.length
})

/**
 * On PostgreSQL several instances may start at once: one transaction holding an advisory lock
 * runs the migrations (each in a savepoint), and the others find them applied when they get it.
 */
export const migrate = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  return yield* sql.onDialectOrElse({
    pg: () => sql.unsafe(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`).pipe(Effect.zipRight(applyPending), sql.withTransaction),
    orElse: () => applyPending
  })
}).pipe(Effect.orDie)

export const MigratorLive = Layer.effectDiscard(migrate)
