import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import { Api } from "../api/Api.js"
import { DeadLetter, DeadLetterList, TenantList } from "../domain/Tenant.js"
import { UndeliveredRepo } from "../db/UndeliveredRepo.js"
import { isoOrNull } from "../db/time.js"
import { Tenants } from "../services/Tenants.js"

export const AdminLive = HttpApiBuilder.group(Api, "admin", (handlers) =>
  Effect.gen(function*() {
    const tenants = yield* Tenants
    const undelivered = yield* UndeliveredRepo
    return handlers
      .handle("createTenant", ({ payload }) => tenants.create(payload.name, payload.config))
      .handle("listTenants", () => Effect.map(tenants.list, (list) => new TenantList({ tenants: list }, true)))
      .handle("updateTenant", ({ path, payload }) => tenants.update(path.tenant_id, payload))
      .handle("rotateKey", ({ path }) => tenants.rotateKey(path.tenant_id))
      .handle("deadLetters", ({ urlParams }) =>
        Effect.map(undelivered.deadLetters(urlParams.tenant_id, urlParams.limit ?? 100), (rows) =>
          new DeadLetterList({
            dead_letters: rows.map((r) =>
              new DeadLetter({
                kind: "message",
                tenant_id: r.tenant_id,
                room_id: r.room_id,
                user_id: r.user_id,
                from_seq: Number(r.from_seq),
                attempts: Number(r.attempts),
                last_attempt_at: isoOrNull(r.last_attempt_at),
                error: r.error
              }, true))
          }, true)))
  }))
