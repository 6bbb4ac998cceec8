import { Etag, FileSystem, HttpIncomingMessage, HttpLayerRouter, HttpMiddleware, HttpPlatform, HttpServer, Path } from "@effect/platform"
import { NodeContext, NodeHttpServer } from "@effect/platform-node"
import { Effect, Function, Layer } from "effect"
import { Api } from "./api/Api.js"
import { AppConfig } from "./AppConfig.js"
import { MigratorLive } from "./db/Migrator.js"
import { SqlLive } from "./db/Sql.js"
import { AdminLive } from "./http/Admin.js"
import { AdminAuthLive, TenantAuthLive, UserAuthLive } from "./http/Auth.js"
import { DemoRoute } from "./http/Demo.js"
import { DocsRoute } from "./http/Docs.js"
import { MaxBodySizeLive, RequestMiddleware } from "./http/Errors.js"
import { HealthLive } from "./http/Health.js"
import { isolated } from "./http/Isolated.js"
import { AdminAuth, TenantAuth, UserAuth } from "./api/Middleware.js"
import { MessagesLive } from "./http/Messages.js"
import { RoomsLive } from "./http/Rooms.js"
import { SendRoute } from "./http/SendRoute.js"
import { Acks } from "./services/Acks.js"
import { Health } from "./services/Health.js"
import { Messages } from "./services/Messages.js"
import { Sequencer } from "./services/Sequencer.js"
import { RateLimiter } from "./services/RateLimiter.js"
import { Rooms } from "./services/Rooms.js"
import { Tenants } from "./services/Tenants.js"
import { Tokens } from "./services/Tokens.js"
import { Connections } from "./realtime/Connection.js"
import { WsRoute } from "./realtime/WsRoute.js"
import { RealtimeHub } from "./realtime/Hub.js"
import { Bus } from "./realtime/Bus.js"
import { UserRegistry } from "./realtime/UserRegistry.js"
import { UndeliveredRepo } from "./db/UndeliveredRepo.js"
import { DeliveryWorkerLive } from "./workers/DeliveryWorker.js"
import { TokensLive } from "./http/Tokens.js"
import { NotificationsLive, NotifyLive } from "./http/Notifications.js"
import { Notifications } from "./services/Notifications.js"
import { DeadLetters } from "./services/DeadLetters.js"
import { Webhooks } from "./services/Webhooks.js"
import { MessagesRepo } from "./db/MessagesRepo.js"
import { NotificationsRepo } from "./db/NotificationsRepo.js"
import { TenantsRepo } from "./db/TenantsRepo.js"
import { WebhooksRepo } from "./db/WebhooksRepo.js"
import { WebhookWorkerLive } from "./workers/WebhookWorker.js"
import { CheckpointWorkerLive } from "./workers/CheckpointWorker.js"
import { DrainLive } from "./http/Drain.js"
import { Lifecycle } from "./http/Lifecycle.js"
import { MetricsRoute } from "./http/MetricsRoute.js"
import { Metrics } from "./services/Metrics.js"
import { Redis } from "./redis/Redis.js"

/** The store, migrated before anything uses it. */
export const DatabaseLive = Layer.provideMerge(MigratorLive, SqlLive).pipe(Layer.provide(AppConfig.Default))

const ServicesLive = Layer.mergeAll(
  Lifecycle.Default,
  Metrics.Default,
  UndeliveredRepo.Default,
  MessagesRepo.Default,
  NotificationsRepo.Default,
  TenantsRepo.Default,
  WebhooksRepo.Default,
  Webhooks.Default,
  Notifications.Default,
  DeadLetters.Default,
  Tokens.Default,
  Tenants.Default,
  Rooms.Default,
  Sequencer.Default,
  Messages.Default,
  Acks.Default,
  Health.Default,
  RateLimiter.Default
)

/**
 * The HttpApi's routes. The API's router, each group and authentication are each built seeing only
 * the services they use (src/http/Isolated.ts), which keeps every request's context small.
 */
const ApiRoutes = HttpLayerRouter.addHttpApi(Api).pipe(
  isolated(HttpLayerRouter.HttpRouter, HttpPlatform.HttpPlatform, Etag.Generator, FileSystem.FileSystem, Path.Path, TenantAuth, UserAuth, AdminAuth),
  Layer.provide([
    isolated(AdminAuth, Tenants, DeadLetters)(AdminLive),
    isolated(UserAuth, Rooms)(RoomsLive),
    isolated(UserAuth, Messages, Acks)(MessagesLive),
    isolated(Health)(HealthLive),
    isolated(UserAuth, Tokens)(TokensLive),
    isolated(TenantAuth, Notifications)(NotifyLive),
    isolated(UserAuth, Notifications)(NotificationsLive)
  ]),
  Layer.provide([
    isolated(Tenants, RateLimiter, Metrics)(TenantAuthLive),
    isolated(Tenants, RateLimiter, Metrics)(UserAuthLive),
    isolated(AppConfig)(AdminAuthLive)
  ])
)

/** Sends, answered ahead of the router (src/http/SendRoute.ts). */
const SendRouteLive = isolated(AppConfig, Lifecycle, Metrics, Messages, Tenants, RateLimiter)(SendRoute)

/** Every route with its services; needs a SqlClient and AppConfig. */
export const RoutesLive = Layer.mergeAll(ApiRoutes, SendRouteLive, WsRoute, DocsRoute, DemoRoute, MetricsRoute, RequestMiddleware, MaxBodySizeLive, DeliveryWorkerLive, WebhookWorkerLive, CheckpointWorkerLive).pipe(
  Layer.provide(Layer.mergeAll(Connections.Default, RealtimeHub.Default, Bus.Default, UserRegistry.Default)),
  Layer.provideMerge(ServicesLive),
  Layer.provide(NodeContext.layer)
)

const HttpServerLive = Layer.unwrapEffect(
  Effect.gen(function*() {
    const { listen } = yield* AppConfig
    const { server } = yield* Lifecycle
    // A reconnect storm opens thousands of connections at once: past Node's default accept queue
    // (511) the kernel drops them and each client waits a second or more to try again. The kernel
    // caps this at net.core.somaxconn.
    return NodeHttpServer.layer(() => server, { port: listen.port, host: listen.host ?? "0.0.0.0", backlog: 65_535 })
  })
).pipe(Layer.provide(Lifecycle.Default))

const ListenLog = Layer.effectDiscard(
  HttpServer.addressWith((address) =>
    Effect.logInfo(
      "listening; create the first tenant with `npm run chatapi -- tenants create NAME` " +
        "(or POST /admin/tenants with X-Master-Key when MASTER_API_KEY is set)"
    ).pipe(Effect.annotateLogs(address._tag === "TcpAddress" ? { address: address.hostname, port: address.port } : {}))
  )
)

/**
 * The router's routes on the server: what `HttpLayerRouter.serve` does (without its request logger
 * and listen line, ours are in RequestMiddleware and ListenLog), except that requests run in a
 * context of the platform's few services rather than every service of the server
 * (src/http/Isolated.ts): the routes hold what they use already.
 */
const Serve = Layer.unwrapScoped(Effect.map(HttpLayerRouter.HttpRouter, (router) => HttpServer.serve(router.asHttpEffect()))).pipe(
  isolated(
    HttpLayerRouter.HttpRouter,
    HttpServer.HttpServer,
    HttpIncomingMessage.MaxBodySize,
    HttpPlatform.HttpPlatform,
    Etag.Generator,
    FileSystem.FileSystem,
    Path.Path
  )
)

const ServingLive = Serve.pipe(
  Layer.provideMerge(RoutesLive),
  // Dead-letter ids are longer than the router's default limit of 100 characters per parameter.
  Layer.provide(Layer.provide(HttpLayerRouter.layer, Layer.succeed(HttpLayerRouter.RouterConfig, { maxParamLength: 2048 }))),
  // No tracer is exported (below): the platform's tracing middleware would still parse each
  // request's URL, copy its headers and make a span that goes nowhere (a tenth of a bare route's CPU).
  HttpMiddleware.withTracerDisabledWhen(Function.constTrue),
  Layer.merge(ListenLog),
  Layer.provide(HttpServerLive)
)

/** The whole server: one router, one port; draining on the way out comes before anything else closes. */
export const ServerLive = DrainLive.pipe(
  Layer.provide(Layer.mergeAll(ServingLive, RealtimeHub.Default, Lifecycle.Default)),
  // Redis, when configured, connects along with the store, before the port opens.
  Layer.provide(Layer.merge(DatabaseLive, Redis.Default)),
  Layer.provide(AppConfig.Default),
  // No tracer is exported yet: spans per request and per query would only cost CPU.
  Layer.provide(Layer.setTracerEnabled(false))
)
