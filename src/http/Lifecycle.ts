import { Duration, Effect, type Scope } from "effect"
import { type IncomingMessage, Server, type ServerResponse, STATUS_CODES } from "node:http"
import type { Duplex } from "node:stream"

/** Answers on a connection the HTTP server has let go of (unparsable, or an upgrade): a §9 body, then closed. */
export const endWithError = (socket: Duplex, status: number, code: string, message: string) => {
  if (!socket.writable) return void socket.destroy()
  const body = JSON.stringify({ error: { code, message } })
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\n` +
      `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`
  )
}

export type UpgradeListener = (request: IncomingMessage, socket: Duplex, head: Buffer) => void

/** Takes a request ahead of the router (and returns true), or leaves it to the router. */
export type RequestTaker = (request: IncomingMessage, response: ServerResponse) => boolean

/**
 * The HTTP server, with upgrade requests to some paths answered ahead of the router: a WebSocket
 * served there carries none of a routed request's fibers and context for its whole life.
 */
class HttpServer extends Server {
  readonly upgrades = new Map<string, UpgradeListener>()
  readonly takers = new Set<RequestTaker>()
  /**
   * Requests whose response has not closed yet (answered or abandoned), counted here rather than
   * around each request's program in the runtime (an interruptible region per request).
   */
  requestsInFlight = 0
  private readonly requestClosed = () => void this.requestsInFlight--
  // Node emits an upgrade only while some listener is there (the router's): before that the request is answered 503 as any other.
  override emit(event: string | symbol, ...args: Array<any>): boolean {
    if (event === "request") {
      this.requestsInFlight++
      ;(args[1] as ServerResponse).once("close", this.requestClosed)
      for (const take of this.takers) if (take(args[0] as IncomingMessage, args[1] as ServerResponse)) return true
    } else if (event === "upgrade" && this.upgrades.size > 0) {
      const request = args[0] as IncomingMessage
      const listener = this.upgrades.get((request.url ?? "").split("?")[0]!)
      if (listener !== undefined) {
        listener(request, args[1] as Duplex, args[2] as Buffer)
        return true
      }
    }
    return super.emit(event as string, ...args)
  }
}

/**
 * How long an idle keep-alive connection is kept: longer than the 60 s idle timeout of common load
 * balancers and than clients' pools usually keep one, so that a connection is closed by the
 * client side. With Node's default (5 s), a client reusing a connection the server was closing at
 * that moment got a reset instead of an answer (seen in the reconnect storm's sends).
 */
const KEEP_ALIVE_MS = 65_000

/** Requests Node cannot even parse (bad bytes, broken headers) still get a §9 body. */
const makeServer = () => {
  const server = new HttpServer()
  server.keepAliveTimeout = KEEP_ALIVE_MS
  // Node's advice: the headers' timeout above the keep-alive one.
  server.headersTimeout = KEEP_ALIVE_MS + 1_000
  server.on("clientError", (error: NodeJS.ErrnoException, socket) => {
    if (!socket.writable || error.code === "ECONNRESET") return socket.destroy()
    if (error.code === "HPE_HEADER_OVERFLOW") return endWithError(socket, 431, "PAYLOAD_TOO_LARGE", "request headers are too large")
    endWithError(socket, 400, "VALIDATION_ERROR", "malformed HTTP request")
  })
  return server
}

/**
 * Until the router is installed, a request that reaches the open port is answered 503 rather
 * than left hanging; once the router's own listener is there, this one stands aside.
 */
const whileStarting = (server: Server) => {
  const listener = (request: IncomingMessage, response: ServerResponse) => {
    if (server.listenerCount("request") > 1) return
    request.resume()
    const body = JSON.stringify({ error: { code: "UNAVAILABLE", message: "the server is starting; retry shortly" } })
    response.writeHead(503, { "content-type": "application/json", "content-length": Buffer.byteLength(body), "retry-after": "1" })
    response.end(body)
  }
  server.on("request", listener)
  return () => void server.off("request", listener)
}

/**
 * The process's HTTP server and its shutdown state: requests in flight are counted, and once
 * draining starts the listener is closed and new requests are answered 503.
 */
export class Lifecycle extends Effect.Service<Lifecycle>()("http/Lifecycle", {
  sync: () => {
    const server = makeServer()
    const started = whileStarting(server)
    let draining = false
    /** Upgrades being answered (requests are counted by the server itself). */
    let inFlight = 0
    /** Counts an upgrade in flight until the returned function is called (once is enough). */
    const enter = () => {
      inFlight++
      let left = false
      return () => {
        if (left) return
        left = true
        inFlight--
      }
    }
    return {
      server,
      /** Upgrade requests to `path` go to `listener` rather than the router while the scope is open. */
      upgrade: (path: string, listener: UpgradeListener): Effect.Effect<void, never, Scope.Scope> =>
        Effect.acquireRelease(
          Effect.sync(() => void server.upgrades.set(path, listener)),
          () => Effect.sync(() => void server.upgrades.delete(path))
        ),
      /**
       * Requests `taker` takes are answered by it rather than the router while the scope is open
       * (while the server is draining, the router answers every request).
       */
      takeAhead: (taker: RequestTaker): Effect.Effect<void, never, Scope.Scope> => {
        const guarded: RequestTaker = (request, response) => !draining && taker(request, response)
        return Effect.acquireRelease(
          Effect.sync(() => void server.takers.add(guarded)),
          () => Effect.sync(() => void server.takers.delete(guarded))
        )
      },
      /** Everything is up: the router answers from now on. */
      ready: Effect.sync(started),
      get draining() {
        return draining
      },
      get inFlight() {
        return inFlight + server.requestsInFlight
      },
      enter,
      /** Stops accepting connections; idle keep-alive connections close, busy ones finish first. */
      startDrain: Effect.sync(() => {
        draining = true
        if (server.listening) server.close()
      }),
      /** Waits until no request is in flight, at most `timeout`; then drops every connection left. */
      awaitDrained: (timeout: Duration.Duration) =>
        Effect.gen(function*() {
          const deadline = Date.now() + Duration.toMillis(timeout)
          while (inFlight + server.requestsInFlight > 0 && Date.now() < deadline) yield* Effect.sleep(Duration.millis(20))
          const left = inFlight + server.requestsInFlight
          server.closeAllConnections()
          return left
        })
    } as const
  }
}) {}
