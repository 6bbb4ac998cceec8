import { HttpLayerRouter, HttpServer } from "@effect/platform"
import { NodeContext, NodeHttpServer } from "@effect/platform-node"
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

/** Every route with its services; needs a SqlClient and AppConfig. */
export const RoutesLive = Layer.mergeAll(ApiRoutes, RequestMiddleware).pipe(
  Layer.provide(ServicesLive),
  Layer.provide(NodeContext.layer)
)

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
export const ServerLive = HttpLayerRouter.serve(RoutesLive, { disableLogger: true, disableListenLog: true }).pipe(
  Layer.merge(ListenLog),
  Layer.provide(HttpServerLive),
  Layer.provide(DatabaseLive),
  Layer.provide(AppConfig.Default),
  // No tracer is exported yet: spans per request and per query would only cost CPU.
  Layer.provide(Layer.setTracerEnabled(false))
)
