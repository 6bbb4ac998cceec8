import { Effect, FiberRef, FiberRefs, LogLevel } from "effect"

/** Who a request acted as, filled in by authentication and written on every log line of the request. */
export interface Who {
  tenant_id?: string
  user_id?: string
}

/** What the steps of a request leave for its end: who it acted as, and headers for its response. */
export interface RequestNotes {
  readonly who: Who
  headers?: Record<string, string>
}

/**
 * The request's notes, set once at the start of its fiber (a fiber runs one request, so the value
 * is never restored: a plain set, not a scoped `locally`, on the hot path). Steps fill them in
 * place rather than setting fiber refs or response handlers, each of which copies the fiber's refs.
 */
export const currentRequest = FiberRef.unsafeMake<RequestNotes | undefined>(undefined)

/** Runs `f` with the request's notes (none outside a routed request, e.g. on a socket). */
export const withRequestNotes = <A, E, R>(f: (notes: RequestNotes | undefined) => Effect.Effect<A, E, R>) =>
  FiberRef.getWith(currentRequest, f)

export const noteRequest = (fields: Who) =>
  withRequestNotes((notes) => {
    if (notes !== undefined) Object.assign(notes.who, fields)
    return Effect.void
  })

/** Who the request of a fiber acts as, for its log lines. */
export const whoOf = (refs: FiberRefs.FiberRefs): Who | undefined => FiberRefs.getOrDefault(refs, currentRequest)?.who

/** Whether request lines are written at `level`: below info they never are, so they are not even built. */
export const writesRequestLines = (level: LogLevel.LogLevel) => LogLevel.lessThanEqual(level, LogLevel.Info)

/**
 * The one log line of a request, once it is answered. A routed request's fiber names who acts
 * already (its notes); a WebSocket upgrade, answered outside the router, passes `who`.
 */
export const logRequest = (line: {
  readonly method: string
  readonly route: string
  readonly path: string
  readonly status: number
  readonly seconds: number
  readonly who?: Who
}) =>
  Effect.logInfo("request").pipe(
    Effect.annotateLogs({
      method: line.method,
      route: line.route,
      path: line.path,
      status: line.status,
      duration_ms: Math.round(line.seconds * 100_000) / 100,
      ...line.who
    })
  )
