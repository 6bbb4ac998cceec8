import type { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { Cause, Effect, Exit, Redacted } from "effect"
import * as crypto from "node:crypto"

/** `CHATAPI_TEST_STORE=postgres`: every server the harness starts gets a fresh PostgreSQL database. */
export const onPostgres = process.env.CHATAPI_TEST_STORE === "postgres"

/** The machine's PostgreSQL: superuser `postgres`, trust auth, database `test` for administration. */
export const adminUrl = process.env.CHATAPI_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test"

const PREFIX = "chatapi_test_"
/** Databases left by a run that was killed are dropped by a later run, once surely abandoned. */
const STALE_MS = 6 * 3_600_000

/** Runs `f` on a one-connection pool to the database at `url`; rejects with the driver's own error. */
export const withPostgres = async <A>(url: string, f: (sql: SqlClient.SqlClient) => Effect.Effect<A, unknown>) => {
  const exit = await Effect.runPromiseExit(
    Effect.flatMap(PgClient.PgClient, f).pipe(
      Effect.provide(PgClient.layer({ url: Redacted.make(url), maxConnections: 1, connectTimeout: "3 seconds" }))
    )
  )
  if (Exit.isSuccess(exit)) return exit.value
  const error = Cause.squash(exit.cause) as { cause?: unknown }
  throw error.cause instanceof Error ? error.cause : error
}

const withAdmin = <A>(f: (sql: SqlClient.SqlClient) => Effect.Effect<A, unknown>) => withPostgres(adminUrl, f)

export const dsnOf = (database: string) => {
  const url = new URL(adminUrl)
  url.pathname = `/${database}`
  return url.toString()
}

/** A new empty database, named with its creation time so that a stale one can be told apart. */
export const createDatabase = async () => {
  const name = `${PREFIX}${Date.now().toString(36)}_${crypto.randomBytes(4).toString("hex")}`
  await withAdmin((sql) => sql.unsafe(`CREATE DATABASE ${name}`))
  return name
}

export const dropDatabase = (name: string) => withAdmin((sql) => sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))

/** Why PostgreSQL cannot be used, or undefined when it can; drops test databases abandoned long ago. */
export const preparePostgres = async (): Promise<string | undefined> => {
  try {
    const rows = await withAdmin((sql) => sql<{ datname: string }>`SELECT datname FROM pg_database WHERE datname LIKE ${`${PREFIX}%`}`)
    const stale = rows.map((r) => r.datname).filter((name) => {
      const born = parseInt(name.slice(PREFIX.length).split("_")[0]!, 36)
      return Number.isFinite(born) && Date.now() - born > STALE_MS
    })
    for (const name of stale) await dropDatabase(name)
    return undefined
  } catch (error) {
    return error instanceof Error ? error.message : String(error)
  }
}
