import { Effect, FiberRef, FiberRefs } from "effect"

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

const withNotes = (f: (notes: RequestNotes) => void) =>
  FiberRef.getWith(currentRequest, (notes) => {
    if (notes !== undefined) f(notes)
    return Effect.void
  })

export const noteRequest = (fields: Who) => withNotes((notes) => Object.assign(notes.who, fields))

/** Headers the request's response gets, whatever answers it (the rate limit's). */
export const noteResponseHeaders = (headers: Record<string, string>) => withNotes((notes) => void (notes.headers = headers))

/** Who the request of a fiber acts as, for its log lines. */
export const whoOf = (refs: FiberRefs.FiberRefs): Who | undefined => FiberRefs.getOrDefault(refs, currentRequest)?.who

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
