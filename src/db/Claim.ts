import type { SqlClient } from "@effect/sql"

/**
 * `FOR UPDATE OF <alias> SKIP LOCKED` on PostgreSQL, so that instances claiming due rows at the same
 * time never take the same one; nothing on SQLite, where one writer at a time holds the database.
 */
export const skipLocked = (sql: SqlClient.SqlClient, alias: string) =>
  sql.onDialectOrElse({ pg: () => sql.literal(`FOR UPDATE OF ${alias} SKIP LOCKED`), orElse: () => sql.literal("") })

/** How long a claimed delivery is held by the instance working on it before another may take it. */
export const CLAIM_LEASE_MS = 60_000
