import { HttpApiEndpoint, HttpApiGroup } from "@effect/platform"
import { Schema } from "effect"
import { DeadLetterList, DeadLetterQuery, ReplayAll, Replayed } from "../domain/DeadLetter.js"
import { CreateTenant, Tenant, TenantList, TenantWithKey, UpdateTenant } from "../domain/Tenant.js"
import * as Errors from "./Errors.js"
import { AdminAuth } from "./Middleware.js"

const TenantPath = Schema.Struct({ tenant_id: Schema.String.pipe(Schema.maxLength(128)) })

export class AdminApi extends HttpApiGroup.make("admin")
  .add(
    HttpApiEndpoint.post("createTenant", "/admin/tenants")
      .setPayload(CreateTenant)
      .addSuccess(TenantWithKey, { status: 201 })
      .addError(Errors.ValidationError)
  )
  .add(HttpApiEndpoint.get("listTenants", "/admin/tenants").addSuccess(TenantList))
  .add(
    HttpApiEndpoint.patch("updateTenant", "/admin/tenants/:tenant_id")
      .setPath(TenantPath)
      .setPayload(UpdateTenant)
      .addSuccess(Tenant)
      .addError(Errors.NotFound)
      .addError(Errors.ValidationError)
  )
  .add(
    HttpApiEndpoint.post("rotateKey", "/admin/tenants/:tenant_id/rotate-key")
      .setPath(TenantPath)
      .addSuccess(TenantWithKey)
      .addError(Errors.NotFound)
  )
  .add(HttpApiEndpoint.get("deadLetters", "/admin/dead-letters").setUrlParams(DeadLetterQuery).addSuccess(DeadLetterList))
  .add(
    HttpApiEndpoint.post("replayDeadLetter", "/admin/dead-letters/:id/replay")
      .setPath(Schema.Struct({ id: Schema.String.pipe(Schema.maxLength(2048)) }))
      .addSuccess(Replayed)
      .addError(Errors.NotFound)
  )
  .add(HttpApiEndpoint.post("replayDeadLetters", "/admin/dead-letters/replay").setPayload(ReplayAll).addSuccess(Replayed))
  .middleware(AdminAuth)
{}
