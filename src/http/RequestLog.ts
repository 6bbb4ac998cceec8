import { Effect, FiberRef, HashMap } from "effect"

/** Who a request acted as, filled in by authentication and written on the request's log line. */
export interface Who {
  tenant_id?: string
  user_id?: string
}

/**
 * The request's `Who`, set once at the start of its fiber (a fiber runs one request, so the
 * value is never restored: a plain set, not a scoped `locally`, on the hot path).
 */
export const currentWho = FiberRef.unsafeMake<Who | undefined>(undefined)

export const noteRequest = (fields: Who) =>
  FiberRef.getWith(currentWho, (who) => {
    if (who !== undefined) Object.assign(who, fields)
    return Effect.void
  })

/**
 * Annotates every later log line of the request's fiber with who acts (no restore needed: the
 * fiber ends with the request).
 */
export const annotateRequest = (fields: Who) =>
  FiberRef.update(FiberRef.currentLogAnnotations, (annotations) => {
    let next = annotations
    for (const [key, value] of Object.entries(fields)) next = HashMap.set(next, key, value)
    return next
  })

/** The one log line of a request, once it is answered. */
export const logRequest = (line: {
  readonly method: string
  readonly route: string
  readonly path: string
  readonly status: number
  readonly seconds: number
  readonly who: Who
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
