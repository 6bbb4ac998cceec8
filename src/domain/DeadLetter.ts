import { Schema } from "effect"

/** What gave up: a member's room cursor, a notification to one user, or a webhook event. */
export const DeadLetterKind = Schema.Literal("message", "notification", "webhook")
export type DeadLetterKind = typeof DeadLetterKind.Type

/** A delivery the workers gave up on after the tenant's `retry_max_attempts`; `id` replays it. */
export class DeadLetter extends Schema.Class<DeadLetter>("DeadLetter")({
  id: Schema.String,
  kind: DeadLetterKind,
  tenant_id: Schema.String,
  attempts: Schema.Number,
  last_attempt_at: Schema.NullOr(Schema.String),
  error: Schema.NullOr(Schema.String),
  /** message: the member never acknowledged from `from_seq` on. */
  room_id: Schema.optional(Schema.String),
  user_id: Schema.optional(Schema.String),
  from_seq: Schema.optional(Schema.Number),
  /** notification */
  notification_id: Schema.optional(Schema.String),
  topic: Schema.optional(Schema.String),
  /** webhook */
  delivery_id: Schema.optional(Schema.String),
  event: Schema.optional(Schema.String)
}) {}

export class DeadLetterList extends Schema.Class<DeadLetterList>("DeadLetterList")({
  dead_letters: Schema.Array(DeadLetter)
}) {}

export const DeadLetterQuery = Schema.Struct({
  tenant_id: Schema.optional(Schema.String.pipe(Schema.maxLength(128))),
  kind: Schema.optional(DeadLetterKind),
  limit: Schema.optional(Schema.compose(Schema.NumberFromString, Schema.Int.pipe(Schema.between(1, 1000))))
})

export const ReplayAll = Schema.Struct({
  tenant_id: Schema.optional(Schema.String.pipe(Schema.maxLength(128))),
  kind: Schema.optional(DeadLetterKind)
})

export class Replayed extends Schema.Class<Replayed>("Replayed")({
  replayed: Schema.Int
}) {}
