import { HttpLayerRouter, HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { createServer } from "node:http"
import { Api } from "./api/Api.js"
import { AppConfig } from "./AppConfig.js"
import { MigratorLive } from "./db/Migrator.js"
import { SqlLive } from "./db/Sql.js"
import { AdminLive } from "./http/Admin.js"
import { AdminAuthLive, TenantAuthLive, UserAuthLive } from "./http/Auth.js"
import { RequestMiddleware } from "./http/Errors.js"
import { HealthLive } from "./http/Health.js"
import { MessagesLive } from "./http/Messages.js"
import { RoomsLive } from "./http/Rooms.js"
import { Acks } from "./services/Acks.js"
import { Health } from "./services/Health.js"
import { Messages } from "./services/Messages.js"
import { RateLimiter } from "./services/RateLimiter.js"
import { Rooms } from "./services/Rooms.js"
import { Tenants } from "./services/Tenants.js"

/** The store, migrated before anything uses it. */
export const DatabaseLive = Layer.provideMerge(MigratorLive, SqlLive).pipe(Layer.provide(AppConfig.Default))

const ServicesLive = Layer.mergeAll(
  Tenants.Default,
  Rooms.Default,
  Messages.Default,
  Acks.Default,
  Health.Default,
  RateLimiter.Default
)

const ApiRoutes = HttpLayerRouter.addHttpApi(Api).pipe(
  Layer.provide([AdminLive, RoomsLive, MessagesLive, HealthLive]),
  Layer.provide([TenantAuthLive, UserAuthLive, AdminAuthLive])
)

const Routes = Layer.mergeAll(ApiRoutes, RequestMiddleware)

const HttpServerLive = Layer.unwrapEffect(
  Effect.map(AppConfig, ({ listen }) => NodeHttpServer.layer(createServer, { port: listen.port, host: listen.host ?? "0.0.0.0" }))
)

const ListenLog = Layer.effectDiscard(
  HttpServer.addressWith((address) =>
    Effect.logInfo(
      "listening; create the first tenant with `npm run chatapi -- tenants create NAME` " +
        "(or POST /admin/tenants with X-Master-Key when MASTER_API_KEY is set)"
    ).pipe(Effect.annotateLogs(address._tag === "TcpAddress" ? { address: address.hostname, port: address.port } : {}))
  )
)

/** The whole server: one router, one port. */
export const ServerLive = HttpLayerRouter.serve(Routes, { disableLogger: true, disableListenLog: true }).pipe(
  Layer.merge(ListenLog),
  Layer.provide(HttpServerLive),
  Layer.provide(ServicesLive),
  Layer.provide(DatabaseLive),
  Layer.provide(AppConfig.Default)
)
