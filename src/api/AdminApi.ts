import { HttpApiEndpoint, HttpApiGroup } from "@effect/platform"
import { Schema } from "effect"
import { CreateTenant, DeadLetterList, DeadLetterQuery, Tenant, TenantList, TenantWithKey, UpdateTenant } from "../domain/Tenant.js"
import * as Errors from "./Errors.js"
import { AdminAuth } from "./Middleware.js"

const TenantPath = Schema.Struct({ tenant_id: Schema.String.pipe(Schema.maxLength(128)) })

export class AdminApi extends HttpApiGroup.make("admin")
  .add(HttpApiEndpoint.post("createTenant", "/admin/tenants").setPayload(CreateTenant).addSuccess(TenantWithKey, { status: 201 }))
  .add(HttpApiEndpoint.get("listTenants", "/admin/tenants").addSuccess(TenantList))
  .add(
    HttpApiEndpoint.patch("updateTenant", "/admin/tenants/:tenant_id")
      .setPath(TenantPath)
      .setPayload(UpdateTenant)
      .addSuccess(Tenant)
      .addError(Errors.NotFound)
  )
  .add(
    HttpApiEndpoint.post("rotateKey", "/admin/tenants/:tenant_id/rotate-key")
      .setPath(TenantPath)
      .addSuccess(TenantWithKey)
      .addError(Errors.NotFound)
  )
  .add(HttpApiEndpoint.get("deadLetters", "/admin/dead-letters").setUrlParams(DeadLetterQuery).addSuccess(DeadLetterList))
  .middleware(AdminAuth)
{}
