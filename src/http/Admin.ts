import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import { Api } from "../api/Api.js"
import { TenantList } from "../domain/Tenant.js"
import { Tenants } from "../services/Tenants.js"

export const AdminLive = HttpApiBuilder.group(Api, "admin", (handlers) =>
  Effect.gen(function*() {
    const tenants = yield* Tenants
    return handlers
      .handle("createTenant", ({ payload }) => tenants.create(payload.name, payload.config))
      .handle("listTenants", () => Effect.map(tenants.list, (list) => new TenantList({ tenants: list }, true)))
      .handle("updateTenant", ({ path, payload }) => tenants.update(path.tenant_id, payload))
      .handle("rotateKey", ({ path }) => tenants.rotateKey(path.tenant_id))
  }))
