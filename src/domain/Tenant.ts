import { Schema } from "effect"
import { TenantId } from "./Ids.js"

const strict = { parseOptions: { onExcessProperty: "error" } } as const

const int = (min: number, max: number) => Schema.Int.pipe(Schema.between(min, max))

const WebhookUrl = Schema.String.pipe(
  Schema.maxLength(2048),
  Schema.pattern(/^https?:\/\/[^\s]+$/, { message: () => "webhook_url must be an http(s) URL" })
)

/** Per-tenant settings; each one falls back to the server default when absent. */
export const TenantConfig = Schema.Struct({
  rate_limit_per_sec: Schema.optional(int(1, 1_000_000)),
  burst: Schema.optional(int(1, 10_000_000)),
  max_message_bytes: Schema.optional(int(1, 1_048_576)),
  retry_max_attempts: Schema.optional(int(1, 1000)),
  webhook_url: Schema.optional(WebhookUrl),
  webhook_secret: Schema.optional(Schema.String.pipe(Schema.minLength(16), Schema.maxLength(256)))
}).annotations(strict)
export type TenantConfig = typeof TenantConfig.Type

/** A config change: a key set to null goes back to the server default. */
export const TenantConfigPatch = Schema.Struct(
  Object.fromEntries(
    Object.entries(TenantConfig.fields).map(([key, field]) => [key, Schema.optional(Schema.NullOr(field.from))])
  ) as { [K in keyof typeof TenantConfig.fields]: Schema.optional<Schema.NullOr<(typeof TenantConfig.fields)[K]["from"]>> }
).annotations(strict)
export type TenantConfigPatch = typeof TenantConfigPatch.Type

export const TenantName = Schema.Trim.pipe(Schema.minLength(1), Schema.maxLength(200))

/** A tenant as the admin API shows it; secrets never appear here. */
export class Tenant extends Schema.Class<Tenant>("Tenant")({
  tenant_id: TenantId,
  name: Schema.String,
  config: TenantConfig,
  created_at: Schema.String
}) {}

/** A tenant with its API key: returned only on creation and rotation. */
export class TenantWithKey extends Tenant.extend<TenantWithKey>("TenantWithKey")({
  api_key: Schema.String
}) {}

export const CreateTenant = Schema.Struct({
  name: TenantName,
  config: Schema.optional(TenantConfig)
})

export const UpdateTenant = Schema.Struct({
  name: Schema.optional(TenantName),
  config: Schema.optional(TenantConfigPatch)
})

export class TenantList extends Schema.Class<TenantList>("TenantList")({
  tenants: Schema.Array(Tenant)
}) {}

/** The limits in force for one tenant: its config over the server defaults. */
export interface TenantLimits {
  readonly rateLimitPerSec: number
  readonly burst: number
  readonly maxMessageBytes: number
  readonly retryMaxAttempts: number
}

/** The tenant a request authenticated as. */
export interface AuthenticatedTenant {
  readonly tenant: Tenant
  readonly limits: TenantLimits
}
