import { defineConfig } from "vitest/config"
import { adminUrl, preparePostgres } from "./test/support/postgres.js"

const shared = {
  setupFiles: ["test/support/cleanup.ts"],
  testTimeout: 60_000,
  hookTimeout: 60_000,
  pool: "forks" as const
}

const sqlite = {
  test: {
    ...shared,
    name: "sqlite",
    include: ["test/**/*.test.ts"],
    // PostgreSQL only: the PostgreSQL store itself, and several instances on it with Redis (they run once, in the postgres project).
    exclude: ["test/e2e/postgres.test.ts", "test/e2e/scaleout*.test.ts"],
    env: { CHATAPI_TEST_STORE: "sqlite" }
  }
}

/** The end-to-end suite again, each server on its own PostgreSQL database; not the files that read the SQLite file itself. */
const postgres = {
  test: {
    ...shared,
    name: "postgres",
    include: ["test/e2e/**/*.test.ts"],
    exclude: ["test/e2e/backup.test.ts", "test/e2e/cli.test.ts", "test/e2e/delivery.test.ts"],
    env: { CHATAPI_TEST_STORE: "postgres" }
  }
}

/**
 * Both stores by default; `CHATAPI_TEST_STORE=sqlite|postgres` picks one. Without PostgreSQL the
 * PostgreSQL run is skipped with a message, unless CI is set or that run was asked for by name.
 */
export default defineConfig(async () => {
  const wanted = process.env.CHATAPI_TEST_STORE
  const ci = !["", "0", "false"].includes(process.env.CI ?? "")
  const projects = wanted === "sqlite" ? [sqlite] : wanted === "postgres" ? [postgres] : [sqlite, postgres]
  if (projects.includes(postgres)) {
    const unavailable = await preparePostgres()
    if (unavailable !== undefined) {
      const message = `PostgreSQL at ${adminUrl} is not reachable (${unavailable})`
      if (ci || wanted === "postgres") {
        throw new Error(`${message}: the PostgreSQL end-to-end run needs it; start it (.ci/run does) or set CHATAPI_TEST_PG_URL`)
      }
      console.warn(`\n${message}: SKIPPING the PostgreSQL end-to-end run; only SQLite is tested.\n`)
      projects.splice(projects.indexOf(postgres), 1)
    }
  }
  return { test: { projects } }
})
