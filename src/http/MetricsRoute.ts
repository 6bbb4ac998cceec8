import { HttpLayerRouter, HttpServerResponse } from "@effect/platform"
import { Effect, Option, Redacted } from "effect"
import * as crypto from "node:crypto"
import { AppConfig } from "../AppConfig.js"
import { Metrics } from "../services/Metrics.js"
import { errorResponse } from "./Errors.js"

const same = (given: string | undefined, secret: Redacted.Redacted<string>) => {
  if (given === undefined) return false
  const a = crypto.createHash("sha256").update(given).digest()
  const b = crypto.createHash("sha256").update(Redacted.value(secret)).digest()
  return crypto.timingSafeEqual(a, b)
}

/**
 * `GET /metrics` in Prometheus text format: `Authorization: Bearer $METRICS_TOKEN` when that is set,
 * else `X-Master-Key`; closed (403) when neither is configured.
 */
export const MetricsRoute = HttpLayerRouter.use((router) =>
  Effect.gen(function*() {
    const config = yield* AppConfig
    const metrics = yield* Metrics
    yield* router.add("GET", "/metrics", (request) =>
      Effect.gen(function*() {
        const bearer = /^Bearer (.+)$/.exec(request.headers["authorization"] ?? "")?.[1]
        const allowed = Option.isSome(config.metricsToken)
          ? same(bearer, config.metricsToken.value)
          : Option.isSome(config.masterKey) && same(request.headers["x-master-key"], config.masterKey.value)
        if (Option.isNone(config.metricsToken) && Option.isNone(config.masterKey)) {
          return errorResponse(403, "FORBIDDEN", "metrics are closed: set METRICS_TOKEN or MASTER_API_KEY")
        }
        if (!allowed) return errorResponse(401, "AUTHENTICATION_ERROR", "missing or invalid metrics credentials")
        return HttpServerResponse.text(yield* metrics.render, { contentType: metrics.contentType })
      }))
  })
)
