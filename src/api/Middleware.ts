import { HttpApiMiddleware, HttpApiSecurity } from "@effect/platform"
import { Context, Schema } from "effect"
import type { UserId } from "../domain/Ids.js"
import type { AuthenticatedTenant } from "../domain/Tenant.js"
import * as Errors from "./Errors.js"

/** The tenant whose API key the request carries. */
export class CurrentTenant extends Context.Tag("api/CurrentTenant")<CurrentTenant, AuthenticatedTenant>() {}

/** The user the parent app says acts (`X-User-Id`). */
export class CurrentUser extends Context.Tag("api/CurrentUser")<CurrentUser, UserId>() {}

/** `X-API-Key`: authenticates the tenant and spends one of its rate-limit tokens. */
export class TenantAuth extends HttpApiMiddleware.Tag<TenantAuth>()("api/TenantAuth", {
  failure: Schema.Union(Errors.Unauthenticated, Errors.RateLimited),
  provides: CurrentTenant,
  security: { apiKey: HttpApiSecurity.apiKey({ in: "header", key: "X-API-Key" }) }
}) {}

/** `X-User-Id`: required on every action done by a user. */
export class UserAuth extends HttpApiMiddleware.Tag<UserAuth>()("api/UserAuth", {
  failure: Errors.ValidationError,
  provides: CurrentUser
}) {}

/** `X-Master-Key`: the admin routes; closed when no master key is configured. */
export class AdminAuth extends HttpApiMiddleware.Tag<AdminAuth>()("api/AdminAuth", {
  failure: Schema.Union(Errors.Unauthenticated, Errors.Forbidden),
  security: { masterKey: HttpApiSecurity.apiKey({ in: "header", key: "X-Master-Key" }) }
}) {}
