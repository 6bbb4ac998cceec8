import { HttpServerRequest } from "@effect/platform"
import { Effect, Layer, Option, Redacted, Schema } from "effect"
import * as crypto from "node:crypto"
import type { IncomingHttpHeaders } from "node:http"
import { AdminAuth, type Caller, TenantAuth, UserAuth } from "../api/Middleware.js"
import { AppConfig } from "../AppConfig.js"
import { Forbidden, RateLimited, Unauthenticated, ValidationError } from "../domain/Errors.js"
import type { AuthenticatedTenant } from "../domain/Tenant.js"
import { UserId } from "../domain/Ids.js"
import { Metrics } from "../services/Metrics.js"
import { RateLimiter } from "../services/RateLimiter.js"
import { Tenants } from "../services/Tenants.js"
import { noteRequest, withRequestNotes } from "./RequestLog.js"

/**
 * The tenant of an API key, once the key is checked and one of the tenant's rate-limit tokens is
 * spent (the limit's headers go on the response, whatever answers it).
 */
const authenticateTenant = Effect.gen(function*() {
  const tenants = yield* Tenants
  const limiter = yield* RateLimiter
  const metrics = yield* Metrics
  // Callbacks rather than a generator: this runs on every request.
  return (key: Redacted.Redacted<string>): Effect.Effect<AuthenticatedTenant, Unauthenticated | RateLimited> =>
    Effect.flatMap(tenants.authenticate(key), (current) => {
      const { tenant, limits } = current
      return Effect.flatMap(limiter.take(tenant.tenant_id, limits.rateLimitPerSec, limits.burst), (decision) =>
        withRequestNotes((notes) => {
          if (notes !== undefined) {
            notes.who.tenant_id = tenant.tenant_id
            notes.headers = {
              "x-ratelimit-limit": String(decision.limit),
              "x-ratelimit-remaining": String(decision.remaining),
              "x-ratelimit-reset": String(decision.resetSeconds),
              ...(decision.allowed ? {} : { "retry-after": String(decision.retryAfterSeconds) })
            }
          }
          if (decision.allowed) return Effect.succeed(current)
          metrics.rateLimited("rest")
          return Effect.fail(new RateLimited({
            message: `rate limit of ${limits.rateLimitPerSec}/s exceeded; retry in ${decision.retryAfterSeconds}s`,
            retryAfterSeconds: decision.retryAfterSeconds
          }))
        }))
    })
})

export const TenantAuthLive = Layer.effect(TenantAuth, Effect.map(authenticateTenant, (apiKey) => ({ apiKey })))

const decodeUserId = Schema.decodeUnknownOption(UserId)

/** The user `X-User-Id` names, noted as who acts. */
const userOf = (headers: IncomingHttpHeaders): Effect.Effect<UserId, ValidationError> => {
  const raw = headers["x-user-id"]
  if (raw === undefined || raw === "") {
    return Effect.fail(new ValidationError({ message: "X-User-Id header is required", field: "X-User-Id" }))
  }
  const userId = decodeUserId(raw)
  if (Option.isNone(userId)) {
    return Effect.fail(new ValidationError({
      message: "X-User-Id must be 1-128 characters of A-Z a-z 0-9 . _ @ + = | ~ -",
      field: "X-User-Id"
    }))
  }
  return Effect.as(noteRequest({ user_id: userId.value }), userId.value)
}

/**
 * Who acts on a user's route: the tenant of the API key first (a bad key is 401 whatever the user
 * header), then the user `X-User-Id` names.
 */
export const authenticateUser = Effect.map(authenticateTenant, (tenantOf) =>
  (key: Redacted.Redacted<string>, headers: IncomingHttpHeaders): Effect.Effect<Caller, Unauthenticated | RateLimited | ValidationError> =>
    Effect.flatMap(tenantOf(key), (tenant) => Effect.map(userOf(headers), (userId) => ({ tenant, userId }))))

export const UserAuthLive = Layer.effect(
  UserAuth,
  Effect.map(authenticateUser, (callerOf) => ({
    apiKey: (key: Redacted.Redacted<string>) => Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => callerOf(key, request.headers))
  }))
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
