import { Effect } from "effect"
import type { TenantId } from "../domain/Ids.js"
import { Tenants } from "../services/Tenants.js"

export const DEMO_TENANT_NAME = "chatapi-demo"

/**
 * The tenant the demo page acts in: the oldest tenant named "chatapi-demo", created at start-up
 * when there is none. Its API key is never shown; the page works with connection tokens only.
 */
export class DemoTenant extends Effect.Service<DemoTenant>()("http/DemoTenant", {
  effect: Effect.gen(function*() {
    const tenants = yield* Tenants
    const existing = (yield* tenants.list).find((t) => t.name === DEMO_TENANT_NAME)
    const tenant = existing ?? (yield* Effect.orDie(tenants.create(DEMO_TENANT_NAME)))
    yield* Effect.logInfo("demo enabled at /demo: anyone can act as any user of the demo tenant").pipe(
      Effect.annotateLogs({ tenant_id: tenant.tenant_id })
    )
    return { tenantId: tenant.tenant_id as TenantId } as const
  })
}) {}
