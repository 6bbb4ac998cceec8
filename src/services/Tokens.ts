import { Effect, Option, Redacted } from "effect"
import * as crypto from "node:crypto"
import { AppConfig } from "../AppConfig.js"
import { Unauthenticated } from "../domain/Errors.js"
import type { TenantId, UserId } from "../domain/Ids.js"

export interface TokenClaims {
  readonly tenantId: TenantId
  readonly userId: UserId
  readonly expiresAt: number
}

const invalid = new Unauthenticated({ message: "invalid or expired token" })

/**
 * Short-lived connection tokens: `ct_<payload>.<HMAC-SHA256>`, so a browser connects without the API key.
 * Without TOKEN_SECRET the secret is random per process: tokens then die with a restart.
 */
export class Tokens extends Effect.Service<Tokens>()("services/Tokens", {
  dependencies: [AppConfig.Default],
  effect: Effect.gen(function*() {
    const config = yield* AppConfig
    const secret = Option.match(config.tokenSecret, {
      onNone: () => crypto.randomBytes(32),
      onSome: (s) => Buffer.from(Redacted.value(s))
    })
    const sign = (payload: string) => crypto.createHmac("sha256", secret).update(payload).digest()

    const issue = (tenantId: TenantId, userId: UserId, ttlSeconds: number) =>
      Effect.sync(() => {
        const expiresAt = Date.now() + ttlSeconds * 1000
        const payload = Buffer.from(JSON.stringify({ t: tenantId, u: userId, e: expiresAt })).toString("base64url")
        return { token: `ct_${payload}.${sign(payload).toString("base64url")}`, expiresAt }
      })

    const verify = (token: string): Effect.Effect<TokenClaims, Unauthenticated> =>
      Effect.suspend(() => {
        const match = /^ct_([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(token)
        if (!match) return Effect.fail(invalid)
        // The signature's text, not its decoded bytes: base64url ignores a last character's spare
        // bits, so several texts decode to one signature, and only the one issued is accepted.
        const given = Buffer.from(match[2]!)
        const expected = Buffer.from(sign(match[1]!).toString("base64url"))
        if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) return Effect.fail(invalid)
        const claims = JSON.parse(Buffer.from(match[1]!, "base64url").toString()) as { t: TenantId; u: UserId; e: number }
        if (claims.e <= Date.now()) return Effect.fail(invalid)
        return Effect.succeed({ tenantId: claims.t, userId: claims.u, expiresAt: claims.e })
      })

    return { issue, verify } as const
  })
}) {}
