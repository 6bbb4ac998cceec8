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
