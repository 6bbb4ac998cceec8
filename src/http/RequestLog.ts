import { Context, Effect } from "effect"

/** Who a request acted as, filled in by authentication and written on the request's log line. */
export class RequestLog extends Context.Tag("http/RequestLog")<RequestLog, {
  tenant_id?: string
  user_id?: string
}>() {}

export const noteRequest = (fields: { tenant_id?: string; user_id?: string }) =>
  Effect.serviceOption(RequestLog).pipe(
    Effect.map((log) => {
      if (log._tag === "Some") Object.assign(log.value, fields)
    })
  )

/** The one log line of a request, once it is answered. */
export const logRequest = (line: {
  readonly method: string
  readonly route: string
  readonly path: string
  readonly status: number
  readonly seconds: number
  readonly who: RequestLog["Type"]
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
