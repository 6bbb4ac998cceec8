import { Data, Duration, Effect } from "effect"
import * as http from "node:http"
import * as https from "node:https"
import { guardedLookup, refuseUrl } from "./Guard.js"

/** A webhook call that did not get a 2xx: the status when there was one, else the network error. */
export class WebhookFailed extends Data.TaggedError("WebhookFailed")<{ readonly status: number | null; readonly reason: string }> {}

const MAX_RESPONSE_BYTES = 64 * 1024

/** POSTs one body; a 2xx succeeds with the status, anything else fails. Redirects are not followed. */
export const post = (
  target: string,
  body: string,
  headers: Record<string, string>,
  options: { readonly timeout: Duration.Duration; readonly allowPrivate: boolean }
): Effect.Effect<number, WebhookFailed> => {
  const refused = refuseUrl(target, options.allowPrivate)
  if (refused !== undefined) return Effect.fail(new WebhookFailed({ status: null, reason: refused }))
  const url = new URL(target)
  return Effect.async<number, WebhookFailed>((resume, signal) => {
    const request = (url.protocol === "https:" ? https : http).request(url, {
      method: "POST",
      signal,
      headers: { ...headers, "content-length": String(Buffer.byteLength(body)) },
      ...(options.allowPrivate ? {} : { lookup: guardedLookup })
    }, (response) => {
      let read = 0
      response.on("data", (chunk: Buffer) => {
        read += chunk.length
        if (read > MAX_RESPONSE_BYTES) response.destroy()
      })
      response.on("error", () => undefined)
      response.on("close", () => {
        const status = response.statusCode ?? 0
        resume(status >= 200 && status < 300
          ? Effect.succeed(status)
          : Effect.fail(new WebhookFailed({ status, reason: `receiver answered ${status}` })))
      })
    })
    request.on("error", (error: NodeJS.ErrnoException) => {
      if (!signal.aborted) resume(Effect.fail(new WebhookFailed({ status: null, reason: error.code ?? error.message })))
    })
    request.end(body)
  }).pipe(
    Effect.timeoutFail({
      duration: options.timeout,
      onTimeout: () => new WebhookFailed({ status: null, reason: `no answer within ${Duration.format(options.timeout)}` })
    })
  )
}
