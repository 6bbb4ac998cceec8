import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"

export class HealthReport extends Schema.Class<HealthReport>("HealthReport")({
  status: Schema.Literal("ok"),
  uptime: Schema.Number,
  db_writable: Schema.Boolean
}) {}

/** 503: the store could not be written. */
export class HealthUnavailable extends Schema.TaggedError<HealthUnavailable>()("HealthUnavailable", {
  status: Schema.Literal("unavailable"),
  uptime: Schema.Number,
  db_writable: Schema.Boolean
}, HttpApiSchema.annotations({ status: 503 })) {}

export class HealthApi extends HttpApiGroup.make("health")
  .add(HttpApiEndpoint.get("health", "/health").addSuccess(HealthReport).addError(HealthUnavailable))
{}
