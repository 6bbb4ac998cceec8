import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import { Api } from "../api/Api.js"
import { ConnectionToken } from "../domain/Token.js"
import { Tokens } from "../services/Tokens.js"
import { asCaller } from "./Rooms.js"

export const TokensLive = HttpApiBuilder.group(Api, "tokens", (handlers) =>
  Effect.gen(function*() {
    const tokens = yield* Tokens
    return handlers.handle("create", ({ payload }) =>
      asCaller((t, u) =>
        Effect.map(tokens.issue(t, u, payload.ttl_seconds ?? 3600), ({ expiresAt, token }) =>
          new ConnectionToken({ token, user_id: u, expires_at: new Date(expiresAt).toISOString() }, true))))
  }))
