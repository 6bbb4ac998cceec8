import { Schema } from "effect"
import { UserId } from "./Ids.js"

export const CreateToken = Schema.Struct({
  ttl_seconds: Schema.optional(Schema.Int.pipe(Schema.between(10, 86_400)))
})

/** A connection token for `/ws?token=...`; never an API key. */
export class ConnectionToken extends Schema.Class<ConnectionToken>("ConnectionToken")({
  token: Schema.String,
  user_id: UserId,
  expires_at: Schema.String
}) {}
