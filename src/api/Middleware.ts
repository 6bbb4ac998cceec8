import { HttpApiMiddleware, HttpApiSecurity } from "@effect/platform"
import { Context, Schema } from "effect"
import type { UserId } from "../domain/Ids.js"
import type { AuthenticatedTenant } from "../domain/Tenant.js"
import * as Errors from "./Errors.js"

/** The tenant whose API key the request carries. */
export class CurrentTenant extends Context.Tag("api/CurrentTenant")<CurrentTenant, AuthenticatedTenant>() {}

/** A user acting for their tenant: the tenant whose API key the request carries, and the user it names (`X-User-Id`). */
export interface Caller {
  readonly tenant: AuthenticatedTenant
  readonly userId: UserId
}

export class CurrentCaller extends Context.Tag("api/CurrentCaller")<CurrentCaller, Caller>() {}

/** `X-API-Key`: authenticates the tenant and spends one of its rate-limit tokens. */
export class TenantAuth extends HttpApiMiddleware.Tag<TenantAuth>()("api/TenantAuth", {
  failure: Schema.Union(Errors.Unauthenticated, Errors.RateLimited),
  provides: CurrentTenant,
  security: { apiKey: HttpApiSecurity.apiKey({ in: "header", key: "X-API-Key" }) }
}) {}

/**
 * `X-API-Key` and `X-User-Id`, on every action done by a user: the tenant is authenticated and
 * spends a rate-limit token first (as with `TenantAuth`), then the user is read. One middleware
 * rather than two, as each adds a service to every request's context.
 */
export class UserAuth extends HttpApiMiddleware.Tag<UserAuth>()("api/UserAuth", {
  failure: Schema.Union(Errors.Unauthenticated, Errors.RateLimited, Errors.ValidationError),
  provides: CurrentCaller,
  security: { apiKey: HttpApiSecurity.apiKey({ in: "header", key: "X-API-Key" }) }
}) {}

/** `X-Master-Key`: the admin routes; closed when no master key is configured. */
export class AdminAuth extends HttpApiMiddleware.Tag<AdminAuth>()("api/AdminAuth", {
  failure: Schema.Union(Errors.Unauthenticated, Errors.Forbidden),
  security: { masterKey: HttpApiSecurity.apiKey({ in: "header", key: "X-Master-Key" }) }
}) {}
