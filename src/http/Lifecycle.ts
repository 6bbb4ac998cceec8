import { Duration, Effect } from "effect"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"

/** Requests Node cannot even parse (bad bytes, broken headers) still get a §9 body. */
const makeServer = () => {
  const server = createServer()
  server.on("clientError", (error: NodeJS.ErrnoException, socket) => {
    if (!socket.writable || error.code === "ECONNRESET") return socket.destroy()
    const tooLarge = error.code === "HPE_HEADER_OVERFLOW"
    const body = JSON.stringify({
      error: tooLarge
        ? { code: "PAYLOAD_TOO_LARGE", message: "request headers are too large" }
        : { code: "VALIDATION_ERROR", message: "malformed HTTP request" }
    })
    socket.end(
      `HTTP/1.1 ${tooLarge ? "431 Request Header Fields Too Large" : "400 Bad Request"}\r\n` +
        `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`
    )
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
    const server: Server = makeServer()
    const started = whileStarting(server)
    let draining = false
    let inFlight = 0
    return {
      server,
      /** Everything is up: the router answers from now on. */
      ready: Effect.sync(started),
      get draining() {
        return draining
      },
      get inFlight() {
        return inFlight
      },
      /** Runs a request, counted while it runs. */
      track: <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        Effect.suspend(() => {
          inFlight++
          return Effect.ensuring(effect, Effect.sync(() => inFlight--))
        }),
      /** Stops accepting connections; idle keep-alive connections close, busy ones finish first. */
      startDrain: Effect.sync(() => {
        draining = true
        if (server.listening) server.close()
      }),
      /** Waits until no request is in flight, at most `timeout`; then drops every connection left. */
      awaitDrained: (timeout: Duration.Duration) =>
        Effect.gen(function*() {
          const deadline = Date.now() + Duration.toMillis(timeout)
          while (inFlight > 0 && Date.now() < deadline) yield* Effect.sleep(Duration.millis(20))
          const left = inFlight
          server.closeAllConnections()
          return left
        })
    } as const
  }
}) {}
