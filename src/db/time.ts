/** Timestamps are stored as epoch milliseconds and shown as ISO 8601. */
export const iso = (ms: number | string): string => new Date(Number(ms)).toISOString()

/** BIGINT columns hold whole milliseconds; PostgreSQL refuses a fraction (a jittered backoff has one). */
export const millis = (ms: number): number => Math.round(ms)

export const isoOrNull = (ms: number | string | null): string | null => ms === null ? null : iso(ms)

export const parseJsonObject = (text: string): Record<string, unknown> => {
  const value = JSON.parse(text) as unknown
  return typeof value === "object" && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : {}
}
