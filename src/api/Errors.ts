import { HttpApiError, HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"
import * as E from "../domain/Errors.js"

/** The SPEC §9 wire body: `{"error": {"code", "message", "field"?}}`. */
export const ErrorBody = <C extends string>(code: C) =>
  Schema.Struct({
    error: Schema.Struct({ code: Schema.Literal(code), message: Schema.String, field: Schema.optional(Schema.String) })
  })

interface Shape {
  readonly message: string
  readonly field?: string | undefined
}

const body = <C extends string>(code: C, e: Shape) => ({
  error: { code, message: e.message, ...(e.field === undefined ? {} : { field: e.field }) }
})

const wire = <A extends Shape, C extends string>(
  self: Schema.Schema<A, any>,
  code: C,
  status: number,
  make: (e: { readonly message: string; readonly field?: string | undefined }) => A
) =>
  Schema.transform(ErrorBody(code), Schema.typeSchema(self), {
    strict: false,
    decode: (b) => make(b.error),
    encode: (e) => body(code, e)
  }).annotations(HttpApiSchema.annotations({ status }))

export const ValidationError = wire(E.ValidationError, "VALIDATION_ERROR", 400, (e) => new E.ValidationError(e))
export const Unauthenticated = wire(E.Unauthenticated, "AUTHENTICATION_ERROR", 401, (e) => new E.Unauthenticated(e))
export const Forbidden = wire(E.Forbidden, "FORBIDDEN", 403, (e) => new E.Forbidden(e))
export const NotFound = wire(E.NotFound, "NOT_FOUND", 404, (e) => new E.NotFound(e))
export const Conflict = wire(E.Conflict, "CONFLICT", 409, (e) => new E.Conflict(e))
export const PayloadTooLarge = wire(E.PayloadTooLarge, "PAYLOAD_TOO_LARGE", 413, (e) => new E.PayloadTooLarge(e))
export const RateLimited = wire(
  E.RateLimited,
  "RATE_LIMIT_EXCEEDED",
  429,
  (e) => new E.RateLimited({ ...e, retryAfterSeconds: 1 })
)
export const Unavailable = wire(E.Unavailable, "UNAVAILABLE", 503, (e) => new E.Unavailable(e))

/** The field a schema issue points at: `members[2]`, `content`, `room_id`. */
export const issueField = (path: ReadonlyArray<PropertyKey>): string | undefined =>
  path.length === 0
    ? undefined
    : path.reduce<string>((acc, key) => typeof key === "number" ? `${acc}[${key}]` : acc === "" ? String(key) : `${acc}.${String(key)}`, "")

/** Request decoding failures (body, path, query, headers) in the §9 shape. */
export const DecodeError = Schema.transform(ErrorBody("VALIDATION_ERROR"), Schema.instanceOf(HttpApiError.HttpApiDecodeError), {
  strict: true,
  // Clients decode a 400 here: the field travels as the one issue's path.
  decode: (b) =>
    new HttpApiError.HttpApiDecodeError({
      issues: b.error.field === undefined ? [] : [{ _tag: "Type" as const, path: [b.error.field], message: b.error.message }],
      message: b.error.message
    }),
  encode: (e) => {
    const issue = e.issues[0]
    const field = issue ? issueField(issue.path) : undefined
    return body("VALIDATION_ERROR", { message: issue ? issue.message : e.message, field })
  }
}).annotations(HttpApiSchema.annotations({ status: 400 }))
