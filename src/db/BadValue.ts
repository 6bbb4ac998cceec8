/**
 * A value the store refuses to hold (PostgreSQL's class 22 "data exception", such as a NUL
 * character in text): bad input, not an outage.
 */
export const isBadValue = (error: unknown) => {
  if (typeof error !== "object" || error === null || (error as { _tag?: unknown })._tag !== "SqlError") return false
  const code = ((error as { cause?: unknown }).cause as { code?: unknown } | undefined)?.code
  return typeof code === "string" && code.startsWith("22")
}
