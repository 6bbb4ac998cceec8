import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import { Api } from "../api/Api.js"
import { DeadLetterList, Replayed } from "../domain/DeadLetter.js"
import { TenantList } from "../domain/Tenant.js"
import { DeadLetters } from "../services/DeadLetters.js"
import { Tenants } from "../services/Tenants.js"

export const AdminLive = HttpApiBuilder.group(Api, "admin", (handlers) =>
  Effect.gen(function*() {
    const tenants = yield* Tenants
    const deadLetters = yield* DeadLetters
    const replayed = (n: number) => new Replayed({ replayed: n }, true)
    return handlers
      .handle("createTenant", ({ payload }) => tenants.create(payload.name, payload.config))
      .handle("listTenants", () => Effect.map(tenants.list, (list) => new TenantList({ tenants: list }, true)))
      .handle("updateTenant", ({ path, payload }) => tenants.update(path.tenant_id, payload))
      .handle("rotateKey", ({ path }) => tenants.rotateKey(path.tenant_id))
      .handle("deadLetters", ({ urlParams }) =>
        Effect.map(deadLetters.list(urlParams.tenant_id, urlParams.kind, urlParams.limit ?? 100), (list) =>
          new DeadLetterList({ dead_letters: list }, true)))
      .handle("replayDeadLetter", ({ path }) => Effect.map(deadLetters.replay(path.id), replayed))
      .handle("replayDeadLetters", ({ payload }) => Effect.map(deadLetters.replayAll(payload.tenant_id, payload.kind), replayed))
  }))
