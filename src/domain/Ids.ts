import { Schema } from "effect"

/** A tenant: one customer application. */
export const TenantId = Schema.String.pipe(Schema.pattern(/^tn_[A-Za-z0-9]{1,64}$/), Schema.brand("TenantId"))
export type TenantId = typeof TenantId.Type

/**
 * A user id chosen by the parent app. No ':' so that `dm:<min>:<max>` stays unambiguous,
 * no whitespace or '/' so that it travels in headers and paths unescaped.
 */
export const UserId = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9._@+=|~-]{1,128}$/, {
    message: () => "a user id is 1-128 characters of A-Z a-z 0-9 . _ @ + = | ~ -"
  }),
  Schema.brand("UserId")
)
export type UserId = typeof UserId.Type

/** Room ids are opaque; an unknown or malformed id is simply not found. */
export const RoomId = Schema.String.pipe(Schema.maxLength(128), Schema.brand("RoomId"))
export type RoomId = typeof RoomId.Type

export const MessageId = Schema.String.pipe(Schema.maxLength(128), Schema.brand("MessageId"))
export type MessageId = typeof MessageId.Type

/** Per-room message sequence number: 1, 2, 3, ... */
export const Seq = Schema.Int.pipe(Schema.nonNegative(), Schema.brand("Seq"))
export type Seq = typeof Seq.Type

export const SeqFromString = Schema.compose(Schema.NumberFromString, Seq)

/** A JSON object (never an array, a string or null). */
export const JsonObject = Schema.Record({ key: Schema.String, value: Schema.Unknown }).annotations({
  identifier: "JsonObject",
  message: () => "expected a JSON object"
})
export type JsonObject = typeof JsonObject.Type
