import { ConfigProvider, Layer } from "effect"
import { DatabaseLive } from "../../src/Server.js"
import { Acks } from "../../src/services/Acks.js"
import { Health } from "../../src/services/Health.js"
import { Messages } from "../../src/services/Messages.js"
import { RateLimiter } from "../../src/services/RateLimiter.js"
import { Rooms } from "../../src/services/Rooms.js"
import { Tenants } from "../../src/services/Tenants.js"
import { tempDir } from "./server.js"

/** Configuration for tests: a fresh temporary data directory plus any overrides. */
export const testConfig = (env: Record<string, string> = {}) => {
  const dir = tempDir("chatapi-svc-")
  return Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries({ DATA_DIR: dir, LOG_LEVEL: "warn", ...env }))))
}

/** Every service on a real SQLite file in a temporary directory. */
export const servicesOnSqlite = (env: Record<string, string> = {}) =>
  Layer.mergeAll(Tenants.Default, Rooms.Default, Messages.Default, Acks.Default, Health.Default, RateLimiter.Default).pipe(
    Layer.provideMerge(DatabaseLive),
    Layer.provide(testConfig(env))
  )
