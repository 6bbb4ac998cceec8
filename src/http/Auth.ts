import { HttpServerRequest } from "@effect/platform"
import { Effect, Layer, Option, Redacted, Schema } from "effect"
import * as crypto from "node:crypto"
import { AdminAuth, TenantAuth, UserAuth } from "../api/Middleware.js"
import { AppConfig } from "../AppConfig.js"
import { Forbidden, RateLimited, Unauthenticated, ValidationError } from "../domain/Errors.js"
import { UserId } from "../domain/Ids.js"
import { Metrics } from "../services/Metrics.js"
import { RateLimiter } from "../services/RateLimiter.js"
import { Tenants } from "../services/Tenants.js"
import { noteRequest, noteResponseHeaders } from "./RequestLog.js"

export const TenantAuthLive = Layer.effect(
  TenantAuth,
  Effect.gen(function*() {
    const tenants = yield* Tenants
    const limiter = yield* RateLimiter
    const metrics = yield* Metrics
    return {
      apiKey: (key) =>
        Effect.gen(function*() {
          const current = yield* tenants.authenticate(key)
          const { tenant, limits } = current
          yield* noteRequest({ tenant_id: tenant.tenant_id })
          const decision = yield* limiter.take(tenant.tenant_id, limits.rateLimitPerSec, limits.burst)
          yield* noteResponseHeaders({
            "x-ratelimit-limit": String(decision.limit),
            "x-ratelimit-remaining": String(decision.remaining),
            "x-ratelimit-reset": String(decision.resetSeconds),
            ...(decision.allowed ? {} : { "retry-after": String(decision.retryAfterSeconds) })
          })
          if (!decision.allowed) {
            metrics.rateLimited("rest")
            return yield* Effect.fail(new RateLimited({
              message: `rate limit of ${limits.rateLimitPerSec}/s exceeded; retry in ${decision.retryAfterSeconds}s`,
              retryAfterSeconds: decision.retryAfterSeconds
            }))
          }
          return current
        })
    }
  })
)

const decodeUserId = Schema.decodeUnknownOption(UserId)

export const UserAuthLive = Layer.succeed(
  UserAuth,
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const raw = request.headers["x-user-id"]
    if (raw === undefined || raw === "") {
      return yield* Effect.fail(new ValidationError({ message: "X-User-Id header is required", field: "X-User-Id" }))
    }
    const userId = decodeUserId(raw)
    if (Option.isNone(userId)) {
      return yield* Effect.fail(new ValidationError({
        message: "X-User-Id must be 1-128 characters of A-Z a-z 0-9 . _ @ + = | ~ -",
        field: "X-User-Id"
      }))
    }
    yield* noteRequest({ user_id: userId.value })
    return userId.value
  })
)

const sha256 = (value: string) => crypto.createHash("sha256").update(value).digest()

export const AdminAuthLive = Layer.effect(
  AdminAuth,
  Effect.gen(function*() {
    const config = yield* AppConfig
    const expected = Option.map(config.masterKey, (key) => sha256(Redacted.value(key)))
    return {
      masterKey: (key) =>
        Option.match(expected, {
          onNone: () => Effect.fail(new Forbidden({ message: "the admin API is disabled: MASTER_API_KEY is not set" })),
          onSome: (hash) =>
            crypto.timingSafeEqual(hash, sha256(Redacted.value(key)))
              ? Effect.void
              : Effect.fail(new Unauthenticated({ message: "missing or invalid master key" }))
        })
    }
  })
)
