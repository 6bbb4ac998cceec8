import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import { Api } from "../api/Api.js"
import { HealthReport, HealthUnavailable } from "../api/HealthApi.js"
import { Health } from "../services/Health.js"

export const HealthLive = HttpApiBuilder.group(Api, "health", (handlers) =>
  Effect.gen(function*() {
    const health = yield* Health
    return handlers.handle("health", () =>
      Effect.flatMap(health.check, ({ status, ...report }) =>
        status === "unavailable"
          ? Effect.fail(new HealthUnavailable({ status, ...report }))
          : Effect.succeed(new HealthReport({ status, ...report }))))
  }))
