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

export const ValidationError = wire(E.ValidationError, E.errorCodes.ValidationError, E.errorStatus.ValidationError, (e) => new E.ValidationError(e))
export const Unauthenticated = wire(E.Unauthenticated, E.errorCodes.Unauthenticated, E.errorStatus.Unauthenticated, (e) => new E.Unauthenticated(e))
export const Forbidden = wire(E.Forbidden, E.errorCodes.Forbidden, E.errorStatus.Forbidden, (e) => new E.Forbidden(e))
export const NotFound = wire(E.NotFound, E.errorCodes.NotFound, E.errorStatus.NotFound, (e) => new E.NotFound(e))
export const Conflict = wire(E.Conflict, E.errorCodes.Conflict, E.errorStatus.Conflict, (e) => new E.Conflict(e))
export const PayloadTooLarge = wire(E.PayloadTooLarge, E.errorCodes.PayloadTooLarge, E.errorStatus.PayloadTooLarge, (e) => new E.PayloadTooLarge(e))
export const RateLimited = wire(
  E.RateLimited,
  E.errorCodes.RateLimited,
  E.errorStatus.RateLimited,
  (e) => new E.RateLimited({ ...e, retryAfterSeconds: 1 })
)
export const Unavailable = wire(E.Unavailable, E.errorCodes.Unavailable, E.errorStatus.Unavailable, (e) => new E.Unavailable(e))

/** The field a schema issue points at: `members[2]`, `content`, `room_id`. */
export const issueField = (path: ReadonlyArray<PropertyKey>): string | undefined =>
  path.length === 0
    ? undefined
    : path.reduce<string>((acc, key) => typeof key === "number" ? `${acc}[${key}]` : acc === "" ? String(key) : `${acc}.${String(key)}`, "")

/** What a request decoding failure tells: its first issue's message and the field it points at. */
export const decodeFailure = (e: HttpApiError.HttpApiDecodeError): Shape => {
  const issue = e.issues[0]
  return { message: issue ? issue.message : e.message, field: issue ? issueField(issue.path) : undefined }
}

/** Request decoding failures (body, path, query, headers) in the §9 shape. */
export const DecodeError = Schema.transform(ErrorBody("VALIDATION_ERROR"), Schema.instanceOf(HttpApiError.HttpApiDecodeError), {
  strict: true,
  // Clients decode a 400 here: the field travels as the one issue's path.
  decode: (b) =>
    new HttpApiError.HttpApiDecodeError({
      issues: b.error.field === undefined ? [] : [{ _tag: "Type" as const, path: [b.error.field], message: b.error.message }],
      message: b.error.message
    }),
  encode: (e) => body("VALIDATION_ERROR", decodeFailure(e))
}).annotations(HttpApiSchema.annotations({ status: 400 }))
