import { SqlClient } from "@effect/sql"
import { Effect, Option } from "effect"
import type { TenantId } from "../domain/Ids.js"
import { Tenant, type TenantConfig } from "../domain/Tenant.js"
import { iso, parseJsonObject } from "./time.js"

interface TenantRow {
  readonly tenant_id: string
  readonly name: string
  readonly api_key_hash: string
  readonly config: string
  readonly created_at: number
}

export interface StoredTenant {
  readonly tenant: Tenant
  readonly apiKeyHash: string
}

const toStored = (row: TenantRow): StoredTenant => ({
  apiKeyHash: row.api_key_hash,
  tenant: new Tenant({
    tenant_id: row.tenant_id as TenantId,
    name: row.name,
    config: parseJsonObject(row.config) as TenantConfig,
    created_at: iso(row.created_at)
  }, true)
})

export class TenantsRepo extends Effect.Service<TenantsRepo>()("db/TenantsRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const one = (rows: ReadonlyArray<TenantRow>) => Option.map(Option.fromNullable(rows[0]), toStored)

    const insert = (tenant: Tenant, apiKeyHash: string) =>
      sql`INSERT INTO tenants (tenant_id, name, api_key_hash, config, created_at, updated_at)
          VALUES (${tenant.tenant_id}, ${tenant.name}, ${apiKeyHash}, ${JSON.stringify(tenant.config)},
                  ${Date.parse(tenant.created_at)}, ${Date.now()})`.pipe(Effect.asVoid, Effect.orDie)

    const findById = (tenantId: string) =>
      sql<TenantRow>`SELECT * FROM tenants WHERE tenant_id = ${tenantId}`.pipe(Effect.map(one), Effect.orDie)

    const findByKeyHash = (hash: string) =>
      sql<TenantRow>`SELECT * FROM tenants WHERE api_key_hash = ${hash}`.pipe(Effect.map(one), Effect.orDie)

    const list = sql<TenantRow>`SELECT * FROM tenants ORDER BY created_at, tenant_id`.pipe(
      Effect.map((rows) => rows.map((row) => toStored(row).tenant)),
      Effect.orDie
    )

    const update = (tenantId: string, name: string, config: TenantConfig) =>
      sql`UPDATE tenants SET name = ${name}, config = ${JSON.stringify(config)}, updated_at = ${Date.now()}
          WHERE tenant_id = ${tenantId}`.pipe(Effect.asVoid, Effect.orDie)

    const setKeyHash = (tenantId: string, hash: string) =>
      sql`UPDATE tenants SET api_key_hash = ${hash}, updated_at = ${Date.now()}
          WHERE tenant_id = ${tenantId}`.pipe(Effect.asVoid, Effect.orDie)

    return { insert, findById, findByKeyHash, list, update, setKeyHash } as const
  })
}) {}
