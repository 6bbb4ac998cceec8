import { Cause, Context, Effect, FiberRef, Layer, Redacted, Runtime, Schema } from "effect"
import type { IncomingMessage, ServerResponse } from "node:http"
import { MessagesApi, SendHeaders } from "../api/MessagesApi.js"
import { RoomPath } from "../api/RoomsApi.js"
import { AppConfig } from "../AppConfig.js"
import { ValidationError } from "../domain/Errors.js"
import { Message, SendMessage } from "../domain/Message.js"
import { Messages } from "../services/Messages.js"
import { Metrics } from "../services/Metrics.js"
import { authenticateUser } from "./Auth.js"
import { bodyNotJson, bodyOverCap, bodyTooDeep, bodyTooLarge, describeFailure, type ErrorBody, errorJson, tooDeep } from "./Errors.js"
import { Lifecycle } from "./Lifecycle.js"
import { currentRequest, logRequest, type RequestNotes, writesRequestLines } from "./RequestLog.js"

/** The route's template, as the contract declares it (metrics and log lines label requests by it). */
const ROUTE = MessagesApi.endpoints.send.path
const PREFIX = "/rooms/"
const SUFFIX = "/messages"
/** The router's limit on a path parameter (src/Server.ts): longer ids are left to it. */
const MAX_ID_LENGTH = 2048

/**
 * The room of `POST /rooms/{room_id}/messages` when the path is plainly that: one segment, nothing
 * percent-encoded. Anything else is left to the router, which answers it the same way.
 */
export const sendRoomOf = (url: string): string | undefined => {
  const query = url.indexOf("?")
  const path = query === -1 ? url : url.slice(0, query)
  if (!path.startsWith(PREFIX) || !path.endsWith(SUFFIX)) return undefined
  const id = path.slice(PREFIX.length, path.length - SUFFIX.length)
  return id.length > 0 && id.length <= MAX_ID_LENGTH && !id.includes("/") && !id.includes("%") ? id : undefined
}

/** Reads a body of at most `max` bytes as text, then calls `done` once with it or with the refusal. */
const readBody = (request: IncomingMessage, max: number, done: (body: string | ErrorBody) => void) => {
  const chunks: Array<Buffer> = []
  let size = 0
  const stop = () => {
    request.off("data", onData)
    request.off("end", onEnd)
    request.off("error", onError)
  }
  const onData = (chunk: Buffer) => {
    size += chunk.length
    if (size <= max) return void chunks.push(chunk)
    // The rest is read and dropped, so that the connection stays usable for the answer.
    stop()
    request.resume()
    done(bodyTooLarge)
  }
  const onEnd = () => {
    stop()
    done(chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks).toString("utf8"))
  }
  const onError = () => {
    stop()
    done(bodyNotJson)
  }
  request.on("data", onData).on("end", onEnd).on("error", onError)
}

const decodePath = Schema.decodeUnknown(RoomPath)
const decodePayload = Schema.decodeUnknown(SendMessage)
const decodeHeaders = Schema.decodeUnknown(SendHeaders)
const encodeMessage = Schema.encode(Message)

/** `X-API-Key`, as the API's security reads it: empty when missing. */
const apiKeyOf = (request: IncomingMessage) => {
  const key = request.headers["x-api-key"]
  return Redacted.make(typeof key === "string" ? key : "")
}

/** As the platform reads a JSON body: an empty one is `null`. */
const parseJson = (text: string): Effect.Effect<unknown, ValidationError> => {
  try {
    return Effect.succeed(text === "" ? null : JSON.parse(text))
  } catch {
    return Effect.fail(new ValidationError({ message: bodyNotJson.message }))
  }
}

/**
 * `POST /rooms/{room_id}/messages`, the API's busiest route, answered ahead of the router: the same
 * checks in the same order with the same answers as the `HttpApi` endpoint (which stays the
 * contract, and answers what this leaves to it), without the platform's per-request machinery
 * (its router, request and response objects, and the context it copies at each layer of a
 * request), which costs about twice what the send itself does.
 *
 * In order: the body's size and nesting (as `RequestMiddleware`), the API key and its rate-limit
 * token then the user (`UserAuth`), the path, the payload and the headers (as `HttpApiBuilder`
 * decodes them), then the send; each refusal is the §9 body the endpoint gives.
 */
export const SendRoute = Layer.scopedDiscard(Effect.gen(function*() {
  const { logLevel, maxBodyBytes } = yield* AppConfig
  const logRequests = writesRequestLines(logLevel)
  const lifecycle = yield* Lifecycle
  const metrics = yield* Metrics
  const messages = yield* Messages
  const callerOf = yield* authenticateUser
  // The request's fiber needs no service: everything it runs was taken from the context here.
  const run = Runtime.runFork(yield* Effect.runtime<never>().pipe(Effect.mapInputContext((_: Context.Context<never>) => Context.empty())))

  const send = (request: IncomingMessage, roomId: string, text: string) =>
    Effect.flatMap(callerOf(apiKeyOf(request), request.headers), (caller) =>
      Effect.flatMap(decodePath({ room_id: roomId }), (path) =>
        Effect.flatMap(Effect.flatMap(parseJson(text), decodePayload), (payload) =>
          Effect.flatMap(decodeHeaders(request.headers), (headers) =>
            messages.send(
              caller.tenant.tenant.tenant_id,
              caller.userId,
              path.room_id,
              { ...payload, idempotencyKey: headers["idempotency-key"] },
              caller.tenant.limits
            )))))

  /** The request's program: its notes on its own fiber, then the send or the refusal, then the answer and its log line. */
  const serve = (request: IncomingMessage, response: ServerResponse, roomId: string, body: string | ErrorBody, started: number) => {
    const notes: RequestNotes = { who: {} }
    const respond = (status: number, json: string) =>
      Effect.suspend(() => {
        if (!response.destroyed) {
          const headers: Record<string, string | number> = { "content-type": "application/json", "content-length": Buffer.byteLength(json), ...notes.headers }
          if (lifecycle.draining) headers.connection = "close"
          response.writeHead(status, headers).end(json)
        }
        const seconds = (performance.now() - started) / 1000
        metrics.request("POST", ROUTE, status, seconds)
        return logRequests ? logRequest({ method: "POST", route: ROUTE, path: request.url!.split("?")[0]!, status, seconds }) : Effect.void
      })
    const refuse = (error: ErrorBody) => respond(error.status, errorJson(error))
    const handled = typeof body !== "string"
      ? refuse(body)
      : tooDeep(body)
      ? refuse(bodyTooDeep)
      : Effect.matchCauseEffect(Effect.flatMap(send(request, roomId, body), encodeMessage), {
        onFailure: (cause: Cause.Cause<unknown>) => Effect.flatMap(describeFailure(cause), refuse),
        onSuccess: (message) => respond(201, JSON.stringify(message))
      })
    return Effect.zipRight(FiberRef.set(currentRequest, notes), handled).pipe(
      // Nothing above fails; should answering itself throw, the connection is not left hanging.
      Effect.catchAllCause((cause) => Effect.zipRight(Effect.logError("request failed", cause), Effect.sync(() => void response.destroy())))
    )
  }

  yield* lifecycle.takeAhead((request, response) => {
    if (request.method !== "POST") return false
    const roomId = sendRoomOf(request.url ?? "")
    if (roomId === undefined) return false
    const started = performance.now()
    const length = Number(request.headers["content-length"] ?? 0)
    if (length > maxBodyBytes) {
      request.resume()
      run(serve(request, response, roomId, bodyOverCap(maxBodyBytes), started))
    } else {
      readBody(request, maxBodyBytes, (body) => void run(serve(request, response, roomId, body, started)))
    }
    return true
  })
}))
