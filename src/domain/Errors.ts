import { Schema } from "effect"

const fields = { message: Schema.String, field: Schema.optional(Schema.String) }

/** 400: the request is malformed or a value is out of range. */
export class ValidationError extends Schema.TaggedError<ValidationError>()("ValidationError", fields) {}

/** 401: missing, unknown or rotated credentials. */
export class Unauthenticated extends Schema.TaggedError<Unauthenticated>()("Unauthenticated", fields) {}

/** 403: authenticated, but not allowed to do this. */
export class Forbidden extends Schema.TaggedError<Forbidden>()("Forbidden", fields) {}

/** 404: no such thing for this tenant (another tenant's ids land here too). */
export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", fields) {}

/** 409: the request conflicts with the current state. */
export class Conflict extends Schema.TaggedError<Conflict>()("Conflict", fields) {}

/** 413: a body, content or metadata over its size limit. */
export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>()("PayloadTooLarge", fields) {}

/** 429: the tenant's token bucket is empty. */
export class RateLimited extends Schema.TaggedError<RateLimited>()("RateLimited", {
  ...fields,
  retryAfterSeconds: Schema.Number
}) {}

/** 503: the store or another dependency cannot serve right now. */
export class Unavailable extends Schema.TaggedError<Unavailable>()("Unavailable", fields) {}

export const notFound = (what: string) => new NotFound({ message: `${what} not found` })

/** The SPEC §9 code of each domain error, for WS `error` frames. */
export const errorCodes = {
  ValidationError: "VALIDATION_ERROR",
  Unauthenticated: "AUTHENTICATION_ERROR",
  Forbidden: "FORBIDDEN",
  NotFound: "NOT_FOUND",
  Conflict: "CONFLICT",
  PayloadTooLarge: "PAYLOAD_TOO_LARGE",
  RateLimited: "RATE_LIMIT_EXCEEDED",
  Unavailable: "UNAVAILABLE"
} as const

/** The HTTP status of each domain error. */
export const errorStatus = {
  ValidationError: 400,
  Unauthenticated: 401,
  Forbidden: 403,
  NotFound: 404,
  Conflict: 409,
  PayloadTooLarge: 413,
  RateLimited: 429,
  Unavailable: 503
} as const

export type DomainError =
  | ValidationError
  | Unauthenticated
  | Forbidden
  | NotFound
  | Conflict
  | PayloadTooLarge
  | RateLimited
  | Unavailable
