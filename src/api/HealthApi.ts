import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"

/** Only when REDIS_URL is set: whether Redis answered a PING. */
const RedisStatus = Schema.optional(Schema.Literal("up", "down"))

/** 200: the store takes writes; `degraded` when Redis is down (live events then stay on this instance, nothing is lost). */
export class HealthReport extends Schema.Class<HealthReport>("HealthReport")({
  status: Schema.Literal("ok", "degraded"),
  uptime: Schema.Number,
  db_writable: Schema.Boolean,
  redis: RedisStatus
}) {}

/** 503: the store could not be written. */
export class HealthUnavailable extends Schema.TaggedError<HealthUnavailable>()("HealthUnavailable", {
  status: Schema.Literal("unavailable"),
  uptime: Schema.Number,
  db_writable: Schema.Boolean,
  redis: RedisStatus
}, HttpApiSchema.annotations({ status: 503 })) {}

export class HealthApi extends HttpApiGroup.make("health")
  .add(HttpApiEndpoint.get("health", "/health").addSuccess(HealthReport).addError(HealthUnavailable))
{}
