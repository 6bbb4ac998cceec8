import { expect } from "vitest"
import type { client, Response } from "../support/server.js"

/** A tenant config that never hits the rate limiter in bulk tests. */
export const FAST = { rate_limit_per_sec: 100_000, burst: 100_000 } as const

export type Api = ReturnType<typeof client>

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Asserts the exact SPEC §9 error body: `{error: {code, message, field?}}` and nothing else. */
export const expectError = (res: Response, status: number, code: string, field?: string) => {
  expect({ status: res.status, body: res.body }).toMatchObject({ status, body: { error: { code } } })
  expect(Object.keys(res.body)).toEqual(["error"])
  const error = res.body.error as Record<string, unknown>
  expect(typeof error.message).toBe("string")
  expect((error.message as string).length).toBeGreaterThan(0)
  for (const key of Object.keys(error)) expect(["code", "message", "field"]).toContain(key)
  if (field !== undefined) expect(error.field).toBe(field)
  expectNoStack(res)
}

/** §9: a response never leaks a stack trace. */
export const expectNoStack = (res: Response) => {
  const text = typeof res.body === "string" ? res.body : JSON.stringify(res.body)
  expect(text).not.toMatch(/stack/i)
  expect(text).not.toMatch(/(?:\n|\\n)\s*at /)
  expect(text).not.toMatch(/\.(?:js|ts|mjs|cjs):\d+:\d+/)
  expect(res.status).toBeLessThan(500)
}

/** Every message of a room, paged forward with `after_seq`. */
export const fullHistory = async (api: Api, user: string, roomId: string) => {
  const all: Array<any> = []
  let after = 0
  for (;;) {
    const page = await api.as(user).get(`/rooms/${roomId}/messages?after_seq=${after}&limit=100`)
    expect(page.status).toBe(200)
    all.push(...page.body.messages)
    if (!page.body.has_more) return all
    after = page.body.messages[page.body.messages.length - 1].seq
  }
}

export const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

/** A `message` frame of one room. */
export const isMessage = (roomId: string) => (f: { readonly type: string; readonly room_id?: unknown }) => f.type === "message" && f.room_id === roomId

/** Waits until a line of the server's log contains `text`. */
export const logged = async (server: { readonly logs: ReadonlyArray<string> }, text: string, timeoutMs = 10_000) => {
  const deadline = Date.now() + timeoutMs
  while (!server.logs.some((l) => l.includes(text))) {
    if (Date.now() > deadline) throw new Error(`no log line with ${JSON.stringify(text)} within ${timeoutMs} ms`)
    await sleep(50)
  }
}

/** Polls `probe` until it returns true, at most `timeoutMs`; the last value otherwise. */
export const eventually = async (probe: () => Promise<boolean>, timeoutMs: number, intervalMs = 100) => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await probe()) return true
    if (Date.now() > deadline) return false
    await sleep(intervalMs)
  }
}
