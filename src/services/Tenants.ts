import { Effect, Option, Redacted } from "effect"
import * as crypto from "node:crypto"
import { AppConfig } from "../AppConfig.js"
import { TenantsRepo } from "../db/TenantsRepo.js"
import { refuseUrl } from "../webhooks/Guard.js"
import { notFound, Unauthenticated, ValidationError } from "../domain/Errors.js"
import type { TenantId } from "../domain/Ids.js"
import {
  type AuthenticatedTenant,
  Tenant,
  type TenantConfig,
  type TenantConfigPatch,
  type TenantLimits,
  TenantWithKey
} from "../domain/Tenant.js"

const sha256 = (value: string) => crypto.createHash("sha256").update(value).digest()

/** `sk_` + 32 random bytes: shown once, stored only as its SHA-256. */
export const newApiKey = () => `sk_${crypto.randomBytes(32).toString("base64url")}`

const newTenantId = () => `tn_${crypto.randomBytes(10).toString("hex")}` as TenantId

/** What the admin API shows of a config: never the webhook secret. */
const visible = ({ webhook_secret: _, ...config }: TenantConfig): TenantConfig => config

const applyPatch = (config: TenantConfig, patch: TenantConfigPatch): TenantConfig => {
  const next: Record<string, unknown> = { ...config }
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete next[key]
    else if (value !== undefined) next[key] = value
  }
  return next as TenantConfig
}

/** A webhook needs both its URL and its secret, and a URL this server is allowed to call. */
const checkWebhook = (config: TenantConfig, allowPrivate: boolean) => {
  const fail = (message: string, field: string) => Effect.fail(new ValidationError({ message, field: `config.${field}` }))
  if (config.webhook_url === undefined) return Effect.void
  if (config.webhook_secret === undefined) return fail("a webhook_url needs a webhook_secret", "webhook_secret")
  const refused = refuseUrl(config.webhook_url, allowPrivate)
  return refused === undefined ? Effect.void : fail(refused, "webhook_url")
}

const unauthenticated = new Unauthenticated({ message: "missing or invalid API key" })

export class Tenants extends Effect.Service<Tenants>()("services/Tenants", {
  dependencies: [TenantsRepo.Default, AppConfig.Default],
  effect: Effect.gen(function*() {
    const repo = yield* TenantsRepo
    const config = yield* AppConfig

    const limits = (tenantConfig: TenantConfig): TenantLimits => {
      const rateLimitPerSec = tenantConfig.rate_limit_per_sec ?? config.defaultRateLimit
      return {
        rateLimitPerSec,
        burst: tenantConfig.burst ??
          (tenantConfig.rate_limit_per_sec === undefined ? config.defaultBurst : rateLimitPerSec * 2),
        maxMessageBytes: tenantConfig.max_message_bytes ?? config.maxMessageBytes,
        retryMaxAttempts: tenantConfig.retry_max_attempts ?? config.retryMaxAttempts
      }
    }

    const create = (name: string, tenantConfig: TenantConfig = {}) =>
      Effect.gen(function*() {
        yield* checkWebhook(tenantConfig, config.webhookAllowPrivate)
        const apiKey = newApiKey()
        const tenant = new Tenant({
          tenant_id: newTenantId(),
          name,
          config: tenantConfig,
          created_at: new Date().toISOString()
        }, true)
        yield* repo.insert(tenant, sha256(apiKey).toString("hex"))
        yield* Effect.logInfo("tenant created").pipe(Effect.annotateLogs({ tenant_id: tenant.tenant_id }))
        return new TenantWithKey({ ...tenant, config: visible(tenant.config), api_key: apiKey }, true)
      })

    const find = (tenantId: string) =>
      repo.findById(tenantId).pipe(
        Effect.flatMap(Option.match({ onNone: () => Effect.fail(notFound("tenant")), onSome: Effect.succeed }))
      )

    const list = repo.list.pipe(Effect.map((tenants) => tenants.map((t) => new Tenant({ ...t, config: visible(t.config) }, true))))

    /**
     * Tenants by key hash, as read within the last second: a changed or rotated key or config takes
     * effect at once on this instance (every write clears it) and within a second on the others.
     */
    const recent = new Map<string, { readonly tenant: AuthenticatedTenant; readonly until: number }>()
    const forget = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.ensuring(effect, Effect.sync(() => recent.clear()))

    const update = (tenantId: string, patch: { readonly name?: string | undefined; readonly config?: TenantConfigPatch | undefined }) =>
      forget(Effect.gen(function*() {
        const { tenant } = yield* find(tenantId)
        const name = patch.name ?? tenant.name
        const next = patch.config ? applyPatch(tenant.config, patch.config) : tenant.config
        yield* checkWebhook(next, config.webhookAllowPrivate)
        yield* repo.update(tenant.tenant_id, name, next)
        return new Tenant({ ...tenant, name, config: visible(next) }, true)
      }))

    const rotateKey = (tenantId: string) =>
      forget(Effect.gen(function*() {
        const { tenant } = yield* find(tenantId)
        const apiKey = newApiKey()
        yield* repo.setKeyHash(tenant.tenant_id, sha256(apiKey).toString("hex"))
        yield* Effect.logInfo("tenant key rotated").pipe(Effect.annotateLogs({ tenant_id: tenant.tenant_id }))
        return new TenantWithKey({ ...tenant, config: visible(tenant.config), api_key: apiKey }, true)
      }))

    /** Looks the key up by its hash, then compares the hashes in constant time. */
    const authenticate = (apiKey: Redacted.Redacted<string>): Effect.Effect<AuthenticatedTenant, Unauthenticated> =>
      Effect.suspend(() => {
        const key = Redacted.value(apiKey)
        if (!key.startsWith("sk_") || key.length > 256) return Effect.fail(unauthenticated)
        const hash = sha256(key)
        const hex = hash.toString("hex")
        const cached = recent.get(hex)
        if (cached !== undefined && cached.until > Date.now()) return Effect.succeed(cached.tenant)
        return Effect.flatMap(repo.findByKeyHash(hex), (found) => {
          if (Option.isNone(found)) return Effect.fail(unauthenticated)
          const stored = Buffer.from(found.value.apiKeyHash, "hex")
          if (stored.length !== hash.length || !crypto.timingSafeEqual(stored, hash)) return Effect.fail(unauthenticated)
          const tenant = { tenant: found.value.tenant, limits: limits(found.value.tenant.config) }
          if (recent.size >= 10_000) recent.clear()
          recent.set(hex, { tenant, until: Date.now() + 1_000 })
          return Effect.succeed(tenant)
        })
      })

    /** A tenant named by a connection token; gone tenants fail like a bad key. */
    const byId = (tenantId: string): Effect.Effect<AuthenticatedTenant, Unauthenticated> =>
      repo.findById(tenantId).pipe(
        Effect.flatMap(Option.match({
          onNone: () => Effect.fail(unauthenticated),
          onSome: ({ tenant }) => Effect.succeed({ tenant, limits: limits(tenant.config) })
        }))
      )

    return { create, list, update, rotateKey, authenticate, byId, limits } as const
  })
}) {}
