import { Etag, HttpLayerRouter } from "@effect/platform"
import { NodeHttpPlatform } from "@effect/platform-node"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Effect, Layer } from "effect"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { AppConfig } from "../../src/AppConfig.js"
import { migrate } from "../../src/db/Migrator.js"
import { RoutesLive } from "../../src/Server.js"
import { testConfig } from "../support/layers.js"
import { tempDir } from "../support/server.js"

/** The real routes in process, on a SQLite file opened read-only: every write fails. */
const readOnlyApp = async () => {
  const filename = path.join(tempDir(), "chatapi.db")
  await Effect.runPromise(migrate.pipe(Effect.provide(SqliteClient.layer({ filename }))))
  return HttpLayerRouter.toWebHandler(
    RoutesLive.pipe(
      Layer.provide(SqliteClient.layer({ filename, readonly: true })),
      Layer.provide([AppConfig.Default, NodeHttpPlatform.layer, Etag.layerWeak]),
      Layer.provide(testConfig({ MASTER_API_KEY: "mk" }))
    ),
    { disableLogger: true }
  )
}

describe("GET /health on a store that cannot be written", () => {
  it("answers 503 with db_writable false, and a write gets 503 UNAVAILABLE, not a 500", async () => {
    const { dispose, handler } = await readOnlyApp()
    try {
      const health = await handler(new Request("http://chatapi.test/health"))
      expect(health.status).toBe(503)
      expect(await health.json()).toMatchObject({ status: "unavailable", db_writable: false })

      const create = await handler(new Request("http://chatapi.test/admin/tenants", {
        method: "POST",
        headers: { "x-master-key": "mk", "content-type": "application/json" },
        body: JSON.stringify({ name: "acme" })
      }))
      expect(create.status).toBe(503)
      expect(await create.json()).toEqual({
        error: { code: "UNAVAILABLE", message: "the store is unavailable; retry later" }
      })
    } finally {
      await dispose()
    }
  })
})
