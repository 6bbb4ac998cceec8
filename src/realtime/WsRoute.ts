import { HttpLayerRouter, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServerRequest } from "@effect/platform-node"
import { Context, Deferred, Effect, Exit, FiberSet, Option, Redacted, Schema, Scope } from "effect"
import { AppConfig } from "../AppConfig.js"
import { Unauthenticated, ValidationError } from "../domain/Errors.js"
import { UserId } from "../domain/Ids.js"
import { errorResponse } from "../http/Errors.js"
import { Lifecycle } from "../http/Lifecycle.js"
import { noteRequest } from "../http/RequestLog.js"
import { Tenants } from "../services/Tenants.js"
import { Tokens } from "../services/Tokens.js"
import { Connections } from "./Connection.js"
import { UserRegistry } from "./UserRegistry.js"

const decodeUserId = Schema.decodeUnknownOption(UserId)
const noContext = (_: Context.Context<never>) => Context.empty()

/** `GET /ws`: a token, or an API key and a user, from headers or the query string. */
export const WsRoute = HttpLayerRouter.use((router) =>
  Effect.gen(function*() {
    const config = yield* AppConfig
    const tenants = yield* Tenants
    const tokens = yield* Tokens
    const registry = yield* UserRegistry
    const connections = yield* Connections
    const lifecycle = yield* Lifecycle
    // Sockets run with an empty context: their program reads no service from it (each was taken
    // when the layers were built), and every copy a socket's scopes and fibers make of a context
    // (the whole application's, otherwise) would be held for the socket's life.
    const runSocket = yield* Effect.flatMap(FiberSet.make(), (set) => FiberSet.runtime(set)<never>().pipe(Effect.mapInputContext(noContext)))

    const authenticate = (request: HttpServerRequest.HttpServerRequest) =>
      Effect.gen(function*() {
        const query = new URL(request.url, "http://localhost").searchParams
        const token = query.get("token")
        if (token !== null) {
          const claims = yield* tokens.verify(token)
          return { tenant: yield* tenants.byId(claims.tenantId), userId: claims.userId }
        }
        const key = request.headers["x-api-key"] ?? query.get("api_key")
        if (key === undefined || key === null) return yield* Effect.fail(new Unauthenticated({ message: "missing credentials" }))
        const tenant = yield* tenants.authenticate(Redacted.make(key))
        const user = decodeUserId(request.headers["x-user-id"] ?? query.get("user_id"))
        if (Option.isNone(user)) {
          return yield* Effect.fail(new ValidationError({ message: "a valid X-User-Id (or user_id) is required", field: "user_id" }))
        }
        return { tenant, userId: user.value }
      })

    yield* router.add("GET", "/ws", (request) =>
      Effect.gen(function*() {
        const auth = yield* Effect.either(authenticate(request))
        if (auth._tag === "Left") {
          return auth.left._tag === "Unauthenticated"
            ? errorResponse(401, "AUTHENTICATION_ERROR", auth.left.message)
            : errorResponse(400, "VALIDATION_ERROR", auth.left.message)
        }
        const { tenant, userId } = auth.right
        yield* noteRequest({ tenant_id: tenant.tenant.tenant_id, user_id: userId })
        // The socket's place under the per-user cap (on every instance together when they share Redis), held until the socket is done.
        const place = yield* Scope.make()
        const release = Scope.close(place, Exit.void)
        if (!(yield* Scope.extend(registry.claimSocket(tenant.tenant.tenant_id, userId, config.maxConnectionsPerUser), place))) {
          yield* release
          return errorResponse(429, "RATE_LIMIT_EXCEEDED", `at most ${config.maxConnectionsPerUser} connections per user`)
        }
        // The socket keeps the context it was made in for its life (and copies it per fiber): an empty one.
        const socket = yield* Effect.orDie(request.upgrade).pipe(Effect.mapInputContext(noContext), Effect.onError(() => release))
        // The socket's program runs in a fiber of its own, from the route's runtime rather than the
        // request's (whose context, copied at every layer of the request, it would otherwise keep
        // for the socket's whole life); the request answers once the upgrade is done.
        const upgraded = yield* Deferred.make<void>()
        const session = { tenant, userId, netSocket: NodeHttpServerRequest.toIncomingMessage(request).socket }
        runSocket(lifecycle.track(connections.run(session, socket, Deferred.succeed(upgraded, undefined))).pipe(
          Effect.catchAllCause((cause) => Effect.logDebug("socket closed", cause)),
          Effect.ensuring(Effect.zipRight(release, Deferred.succeed(upgraded, undefined))),
          Effect.annotateLogs({ route: "/ws", tenant_id: tenant.tenant.tenant_id, user_id: userId })
        ))
        yield* Deferred.await(upgraded)
        return HttpServerResponse.empty()
      }).pipe(Effect.annotateLogs({ route: "/ws" })))
  })
)
