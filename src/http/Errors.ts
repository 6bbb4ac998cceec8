import { FileSystem, HttpApiError, HttpIncomingMessage, HttpMethod, HttpLayerRouter, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServerRequest } from "@effect/platform-node"
import { Cause, Context, Effect, FiberRef, Layer, Option, ParseResult } from "effect"
import type { IncomingMessage } from "node:http"
import { Api } from "../api/Api.js"
import { DemoApi } from "../api/DemoApi.js"
import { decodeFailure } from "../api/Errors.js"
import { type DomainError, errorCodes, errorStatus } from "../domain/Errors.js"
import { AppConfig } from "../AppConfig.js"
import { Metrics, routeMatcher } from "../services/Metrics.js"
import { Lifecycle } from "./Lifecycle.js"
import { isBadValue } from "../db/BadValue.js"
import { currentRequest, logRequest, type RequestNotes, writesRequestLines } from "./RequestLog.js"

export const errorResponse = (status: number, code: string, message: string) =>
  HttpServerResponse.unsafeJson({ error: { code, message } }, { status })

/** The SPEC §9 body of an answer, as JSON text. */
export const errorJson = ({ code, field, message }: ErrorBody) =>
  JSON.stringify({ error: field === undefined ? { code, message } : { code, message, field } })

const hasTag = (u: unknown, tag: string): u is { _tag: string; cause?: unknown; reason?: string } =>
  typeof u === "object" && u !== null && (u as { _tag?: unknown })._tag === tag

export interface ErrorBody {
  readonly status: number
  readonly code: string
  readonly message: string
  readonly field?: string | undefined
}

const body = (status: number, code: string, message: string): ErrorBody => ({ status, code, message })

/** A body declared longer than the cap, refused before it is read. */
export const bodyOverCap = (maxBodyBytes: number) => body(413, "PAYLOAD_TOO_LARGE", `request body is over ${maxBodyBytes} bytes`)
/** A body longer than the cap, found while reading it (no length declared). */
export const bodyTooLarge = body(413, "PAYLOAD_TOO_LARGE", "request body is too large")
export const bodyNotJson = body(400, "VALIDATION_ERROR", "request body is not valid JSON")

const MAX_JSON_DEPTH = 64
export const bodyTooDeep = body(400, "VALIDATION_ERROR", `request body is nested deeper than ${MAX_JSON_DEPTH} levels`)

/** Whatever escaped the API: unknown routes, unreadable bodies and defects, as a §9 answer. */
export const describeCause = (cause: Cause.Cause<unknown>): Effect.Effect<ErrorBody> => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure) && hasTag(failure.value, "RouteNotFound")) {
    return Effect.succeed(body(404, "NOT_FOUND", "no such route"))
  }
  const error = Cause.squash(cause)
  if (hasTag(error, "RequestError")) {
    const tooLarge = error.cause instanceof Error && error.cause.message === "maxBytes exceeded"
    return Effect.succeed(tooLarge ? bodyTooLarge : bodyNotJson)
  }
  if (isBadValue(error)) {
    return Effect.succeed(body(400, "VALIDATION_ERROR", "a value cannot be stored (for example a NUL character)"))
  }
  if (hasTag(error, "SqlError")) {
    return Effect.as(Effect.logError("store unavailable", cause), body(503, "UNAVAILABLE", "the store is unavailable; retry later"))
  }
  return Effect.as(Effect.logError("request failed", cause), body(500, "INTERNAL_ERROR", "internal error"))
}

const isDomainError = (u: unknown): u is DomainError =>
  typeof u === "object" && u !== null && Object.hasOwn(errorStatus, (u as { _tag?: unknown })._tag as string)

/**
 * A failure as the API answers it: a domain error with its status and code, a request that does
 * not decode as the API's decoding failure, and anything else as `describeCause` says.
 */
export const describeFailure = (cause: Cause.Cause<unknown>): Effect.Effect<ErrorBody> => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) {
    const error = failure.value
    if (isDomainError(error)) {
      return Effect.succeed({ status: errorStatus[error._tag], code: errorCodes[error._tag], message: error.message, field: error.field })
    }
    if (ParseResult.isParseError(error)) {
      return Effect.map(HttpApiError.HttpApiDecodeError.fromParseError(error), (e) => ({ status: 400, code: "VALIDATION_ERROR", ...decodeFailure(e) }))
    }
  }
  return describeCause(cause)
}

const answerError = (body: ErrorBody) => errorResponse(body.status, body.code, body.message)

/** Whether a JSON text nests deeper than the API accepts. */
export const tooDeep = (text: string) => jsonDepth(text) > MAX_JSON_DEPTH

/** Interruption stays interruption (the client went away); anything else is answered. */
const toResponse = (cause: Cause.Cause<unknown>): Effect.Effect<HttpServerResponse.HttpServerResponse> =>
  Cause.isInterruptedOnly(cause)
    // A cause of interruptions only holds no failure.
    ? Effect.failCause(cause as Cause.Cause<never>)
    : Effect.map(describeCause(cause), answerError)

/** How deeply arrays and objects nest in a JSON text; a cheap scan, run before anything parses it. */
const jsonDepth = (text: string): number => {
  let depth = 0
  let max = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 92) i++
      else if (c === 34) inString = false
    } else if (c === 34) inString = true
    else if (c === 91 || c === 123) max = Math.max(max, ++depth)
    else if (c === 93 || c === 125) depth--
  }
  return max
}

/**
 * A chunked body over the cap makes the body reader destroy the request stream, which would
 * close the socket before the 413 is written: discard the rest of the body instead.
 */
const keepSocketOnOverflow = (source: IncomingMessage) => {
  source.destroy = function(this: IncomingMessage) {
    this.removeAllListeners("data")
    this.resume()
    return this
  }
}

/** Every route template the server answers: the HttpApi contract's and the raw routes'. */
const routeOf = routeMatcher([
  ...[...Object.values(Api.groups), ...Object.values(DemoApi.groups)].flatMap((group) =>
    Object.values(group.endpoints).map((endpoint: { readonly path: string }) => endpoint.path)),
  "/ws", "/metrics", "/openapi.json", "/docs", "/demo", "/demo/app.js"
])

/**
 * The body size cap of every request, in the context the server runs requests with (one value for
 * all, rather than provided again around each request).
 */
export const MaxBodySizeLive = Layer.effect(
  HttpIncomingMessage.MaxBodySize,
  Effect.map(AppConfig, ({ maxBodyBytes }) => Option.some(FileSystem.Size(maxBodyBytes)))
)

/**
 * Around every route: the body size cap, the §9 body for anything the API did not answer, one
 * log line and one latency sample per request, and 503 once the server is draining.
 */
export const RequestMiddleware = HttpLayerRouter.middleware(
  Effect.gen(function*() {
    const { logLevel, maxBodyBytes } = yield* AppConfig
    const logRequests = writesRequestLines(logLevel)
    const lifecycle = yield* Lifecycle
    const metrics = yield* Metrics
    return (app) =>
      // Plain callbacks rather than a generator: this wraps every request, and each step of a
      // generator is one more turn of the runtime (CPU per request -4 to -7% over the generator).
      Effect.withFiberRuntime<HttpServerResponse.HttpServerResponse, HttpLayerRouter.unhandled>((fiber) => {
        const request = Context.unsafeGet(fiber.currentContext, HttpServerRequest.HttpServerRequest)
        const started = performance.now()
        const path = request.url.split("?")[0]!
        const route = routeOf(path)
        if (lifecycle.draining) {
          return Effect.succeed(HttpServerResponse.setHeader(errorResponse(503, "UNAVAILABLE", "the server is shutting down"), "connection", "close"))
        }
        const notes: RequestNotes = { who: {} }
        const length = Number(request.headers["content-length"] ?? 0)
        if (request.headers["content-length"] === undefined && request.headers["transfer-encoding"] !== undefined) {
          keepSocketOnOverflow(NodeHttpServerRequest.toIncomingMessage(request))
        }
        // The API speaks JSON only: a body is read as JSON whatever its declared type. The headers
        // are the request's own object, read by everything after this.
        ;(request.headers as Record<string, string>)["content-type"] = "application/json"
        const handled = length > maxBodyBytes
          ? Effect.succeed(answerError(bodyOverCap(maxBodyBytes)))
          : HttpMethod.hasBody(request.method)
          ? Effect.flatMap(request.text, (text) =>
            tooDeep(text) ? Effect.succeed(answerError(bodyTooDeep)) : app)
          : app
        const answer = (response: HttpServerResponse.HttpServerResponse) => {
          const seconds = (performance.now() - started) / 1000
          // Upgrades to /ws never come here (src/realtime/WsRoute.ts): a plain GET /ws is an ordinary request.
          metrics.request(request.method, route, response.status, seconds)
          const noted = notes.headers === undefined ? response : HttpServerResponse.setHeaders(response, notes.headers)
          const answered = lifecycle.draining ? HttpServerResponse.setHeader(noted, "connection", "close") : noted
          return logRequests
            ? Effect.as(logRequest({ method: request.method, route, path, status: response.status, seconds }), answered)
            : Effect.succeed(answered)
        }
        // The fiber runs this request only: set, not scoped (a scoped provide costs several µs each).
        return FiberRef.set(currentRequest, notes).pipe(
          Effect.zipRight(Effect.catchAllCause(handled, toResponse)),
          Effect.flatMap(answer)
        )
      })
  }),
  { global: true }
)
