import { HttpLayerRouter } from "@effect/platform"
import { Cause, Context, Effect, Exit, FiberSet, Layer, Option, Redacted, Schema, Scope } from "effect"
import type { IncomingMessage } from "node:http"
import type { Socket as NetSocket } from "node:net"
import { type WebSocket, WebSocketServer } from "ws"
import { AppConfig } from "../AppConfig.js"
import { Unauthenticated, ValidationError } from "../domain/Errors.js"
import { UserId } from "../domain/Ids.js"
import { describeCause, type ErrorBody, errorResponse } from "../http/Errors.js"
import { endWithError, Lifecycle } from "../http/Lifecycle.js"
import { logRequest, type Who, writesRequestLines } from "../http/RequestLog.js"
import { Tenants } from "../services/Tenants.js"
import { Tokens } from "../services/Tokens.js"
import { Connections, type Session } from "./Connection.js"
import { UserRegistry } from "./UserRegistry.js"
import { type Accept, SocketGone } from "./Wire.js"

/**
 * Hands every frame to `onFrame`, from the first one on (none may arrive before the program reads
 * them). Made here rather than where the upgrade completes: a listener made there would keep that
 * scope (the resume of the fiber that set the socket up, and so the fiber) for the socket's life.
 */
const listen = (ws: WebSocket, onFrame: (data: string | Uint8Array) => void) => {
  ws.on("message", (data: Buffer, isBinary: boolean) => onFrame(isBinary ? data : data.toString("utf8")))
  // A protocol error (a bad frame, bad UTF-8) closes the socket; the close ends its program.
  ws.on("error", ignore)
}
const ignore = () => {}

const decodeUserId = Schema.decodeUnknownOption(UserId)
const WS_KEY = /^[+/0-9A-Za-z]{22}==$/

/** What makes an upgrade request a WebSocket handshake, checked before anything else (ws checks it again). */
const handshakeProblem = (request: IncomingMessage) => {
  const { headers } = request
  if (request.method !== "GET") return "a WebSocket handshake is a GET"
  if (headers.upgrade?.toLowerCase() !== "websocket") return "the Upgrade header must be websocket"
  if (!WS_KEY.test(headers["sec-websocket-key"] ?? "")) return "missing or invalid Sec-WebSocket-Key header"
  if (headers["sec-websocket-version"] !== "13" && headers["sec-websocket-version"] !== "8") return "Sec-WebSocket-Version must be 13"
  return undefined
}
const noContext = (_: Context.Context<never>) => Context.empty()

/**
 * WebSocket upgrades to `/ws`, answered ahead of the router: a socket lives for hours, and
 * everything a routed request carries (its fiber, its context, the platform's socket wrapper)
 * would be held that long, per socket.
 */
const Upgrades = Layer.scopedDiscard(
  Effect.gen(function*() {
    const config = yield* AppConfig
    const tenants = yield* Tenants
    const tokens = yield* Tokens
    const registry = yield* UserRegistry
    const connections = yield* Connections
    const lifecycle = yield* Lifecycle
    const logRequests = writesRequestLines(config.logLevel)
    // Sockets run with an empty context: their program reads no service from it (each was taken
    // when the layers were built), and every copy a socket's scopes and fibers make of a context
    // (the whole application's, otherwise) would be held for the socket's life.
    const runSocket = yield* Effect.flatMap(FiberSet.make(), (set) => FiberSet.runtime(set)<never>().pipe(Effect.mapInputContext(noContext)))
    // The handshake only; sockets are counted and closed by the hub and the drain.
    const wss = yield* Effect.acquireRelease(
      Effect.sync(() => new WebSocketServer({ noServer: true, clientTracking: false })),
      (wss) => Effect.async<void>((resume) => void wss.close(() => resume(Effect.void)))
    )

    const authenticate = (request: IncomingMessage, query: URLSearchParams) =>
      Effect.gen(function*() {
        const token = query.get("token")
        if (token !== null) {
          const claims = yield* tokens.verify(token)
          return { tenant: yield* tenants.byId(claims.tenantId), userId: claims.userId }
        }
        const key = request.headers["x-api-key"] ?? query.get("api_key")
        if (typeof key !== "string") return yield* Effect.fail(new Unauthenticated({ message: "missing credentials" }))
        const tenant = yield* tenants.authenticate(Redacted.make(key))
        const user = decodeUserId(request.headers["x-user-id"] ?? query.get("user_id"))
        if (Option.isNone(user)) {
          return yield* Effect.fail(new ValidationError({ message: "a valid X-User-Id (or user_id) is required", field: "user_id" }))
        }
        return { tenant, userId: user.value }
      })

    const acceptOf = (request: IncomingMessage, socket: NetSocket, head: Buffer): Accept => {
      // The request is let go of once the handshake is done: the socket outlives it by hours.
      let handshake: { readonly request: IncomingMessage; readonly head: Buffer } | undefined = { request, head }
      return (onFrame) =>
        Effect.async((resume) => {
          const pending = handshake
          handshake = undefined
          if (pending === undefined || socket.destroyed) return resume(Effect.fail(new SocketGone()))
          // A handshake ws refuses (one of its checks not made here) is answered 400 by ws and the connection closed.
          const gone = () => resume(Effect.fail(new SocketGone()))
          socket.once("close", gone)
          wss.handleUpgrade(pending.request, socket, pending.head, (ws) => {
            socket.off("close", gone)
            listen(ws, onFrame)
            resume(Effect.succeed(ws))
          })
          return Effect.sync(() => void socket.destroy())
        })
    }

    /** Checks the handshake and the credentials and takes the user's place: the socket's session, or none once refused. */
    const admit = (request: IncomingMessage, socket: NetSocket, head: Buffer, refuse: (body: ErrorBody) => Effect.Effect<void>, who: Who) =>
      Effect.gen(function*() {
        if (lifecycle.draining) return yield* Effect.as(refuse({ status: 503, code: "UNAVAILABLE", message: "the server is shutting down" }), undefined)
        const problem = handshakeProblem(request)
        if (problem !== undefined) return yield* Effect.as(refuse({ status: 400, code: "VALIDATION_ERROR", message: problem }), undefined)
        const auth = yield* authenticate(request, new URL(request.url ?? "/", "http://localhost").searchParams).pipe(
          Effect.mapError((e): ErrorBody =>
            e._tag === "Unauthenticated"
              ? { status: 401, code: "AUTHENTICATION_ERROR", message: e.message }
              : { status: 400, code: "VALIDATION_ERROR", message: e.message }),
          // The store down while looking up the key: 503, as for any request.
          Effect.catchAllDefect((defect) => Effect.flip(describeCause(Cause.die(defect)))),
          Effect.either
        )
        if (auth._tag === "Left") return yield* Effect.as(refuse(auth.left), undefined)
        const { tenant, userId } = auth.right
        who.tenant_id = tenant.tenant.tenant_id
        who.user_id = userId
        // The socket's place under the per-user cap (on every instance together when they share Redis), held until the socket is done.
        if (!(yield* registry.claimSocket(tenant.tenant.tenant_id, userId, config.maxConnectionsPerUser))) {
          const message = `at most ${config.maxConnectionsPerUser} connections per user`
          return yield* Effect.as(refuse({ status: 429, code: "RATE_LIMIT_EXCEEDED", message }), undefined)
        }
        const session: Session = { tenant, userId, netSocket: socket, accept: acceptOf(request, socket, head) }
        return session
      })

    /** The upgrade's log line, once answered: a closure of its own, holding nothing of the request. */
    const answerOf = (who: Who) => {
      const started = performance.now()
      return (status: number) =>
        logRequests
          ? logRequest({ method: "GET", route: "/ws", path: "/ws", status, seconds: (performance.now() - started) / 1000, who })
          : Effect.void
    }

    /** Sockets set up and not yet done: their scopes close with the server if their sockets did not close first. */
    const places = new Set<Scope.CloseableScope>()
    yield* Effect.addFinalizer(() => Effect.forEach([...places], (place) => Scope.close(place, Exit.void), { discard: true }))

    /**
     * The socket's setup in a fiber of its own, holding neither the request nor the admission's
     * fiber and effects; once set up, no fiber waits on the socket: its close forks what is left.
     * The place is the socket's scope: its finalizers and the user's place end with it.
     */
    const runProgram = (session: Session, answer: (status: number) => Effect.Effect<void>, place: Scope.CloseableScope) => {
      // Counted in flight until the socket is done, for the drain.
      const leave = lifecycle.enter()
      places.add(place)
      const done = Effect.ensuring(Scope.close(place, Exit.void), Effect.sync(() => (places.delete(place), leave())))
      const annotate = Effect.annotateLogs({ route: "/ws", tenant_id: session.tenant.tenant.tenant_id, user_id: session.userId })
      runSocket(connections.run(session, answer(101), (last) => runSocket(annotate(Effect.zipRight(last, done)))).pipe(
        Effect.provideService(Scope.Scope, place),
        Effect.onError((cause) => Effect.zipRight(Cause.isInterruptedOnly(cause) ? Effect.void : Effect.logDebug("socket closed", cause), done)),
        annotate
      ))
    }

    const serve = (request: IncomingMessage, socket: NetSocket, head: Buffer) =>
      Effect.gen(function*() {
        const who: Who = {}
        const answer = answerOf(who)
        const refuse = ({ code, message, status }: ErrorBody) =>
          Effect.zipRight(Effect.sync(() => endWithError(socket, status, code, message)), answer(status))
        // The user's place, held until the socket is done.
        const place = yield* Scope.make()
        const session = yield* Scope.extend(admit(request, socket, head, refuse, who), place).pipe(
          Effect.onError(() => Scope.close(place, Exit.void))
        )
        if (session === undefined) return yield* Scope.close(place, Exit.void)
        runProgram(session, answer, place)
      })

    yield* lifecycle.upgrade("/ws", (request, socket, head) => {
      runSocket(serve(request, socket as NetSocket, head))
    })
  })
)

/**
 * `GET /ws`: a token, or an API key and a user, from headers or the query string. Upgrades are
 * answered ahead of the router; a plain GET gets a §9 answer from it.
 */
export const WsRoute = Layer.merge(
  Upgrades,
  HttpLayerRouter.add("GET", "/ws", errorResponse(400, "VALIDATION_ERROR", "GET /ws is a WebSocket upgrade (Connection: Upgrade, Upgrade: websocket)"))
)
