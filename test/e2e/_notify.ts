import { expect } from "vitest"
import type { Receiver, WebhookCall } from "../support/receiver.js"
import { client, createTenant, MASTER_KEY } from "../support/server.js"
import { connectWs, type Frame } from "../support/ws.js"
import { FAST, sleep } from "./_helpers.js"

/** An ISO 8601 timestamp. */
export const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/

/** Nearest-rank percentiles of a sample, formatted in ms. */
export const percentile = (sample: ReadonlyArray<number>) => {
  const sorted = [...sample].sort((x, y) => x - y)
  return (p: number) => sorted[Math.max(0, Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1))]!.toFixed(1)
}

export type Tenant = Awaited<ReturnType<typeof createTenant>>

let tenantCount = 0

/** A fresh tenant (so tests never share users), fast rate limits, optionally wired to a receiver. */
export const freshTenant = (url: string, config: Record<string, unknown> = {}, receiver?: Receiver) =>
  createTenant(url, `notify-${++tenantCount}`, {
    ...FAST,
    ...(receiver ? { webhook_url: receiver.url, webhook_secret: receiver.secret } : {}),
    ...config
  })

/** Admin requests with the master key (`key: null` sends none). */
export const admin = (url: string, key: string | null = MASTER_KEY) => {
  const send = (method: string, route: string, body?: unknown) =>
    client(url).request(method, route, {
      ...(key === null ? {} : { headers: { "x-master-key": key } }),
      ...(body === undefined ? {} : { body })
    })
  return {
    get: (route: string) => send("GET", route),
    post: (route: string, body?: unknown) => send("POST", route, body),
    patch: (route: string, body?: unknown) => send("PATCH", route, body)
  }
}

/** The dead letters matching a query (tenant_id, kind, limit), newest first. */
export const deadLetters = async (url: string, query: Record<string, string>): Promise<Array<Record<string, any>>> => {
  const res = await admin(url).get(`/admin/dead-letters?${new URLSearchParams(query)}`)
  expect(res.status).toBe(200)
  return res.body.dead_letters
}

/** Polls `probe` until `ok` holds, failing after `timeoutMs`; returns the last value. */
export const until = async <T>(probe: () => T | Promise<T>, ok: (v: T) => boolean, timeoutMs = 10_000, what = "condition"): Promise<T> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (ok(value)) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(value)}`)
    await sleep(50)
  }
}

/** `POST /notify` for a tenant (no X-User-Id). */
export const notify = (tenant: Tenant, body: unknown) => tenant.api.request("POST", "/notify", { body })

/** `POST /notify` that must answer 202; returns the body. */
export const notifyOk = async (tenant: Tenant, body: Record<string, unknown>) => {
  const res = await notify(tenant, { topic: "test.topic", payload: { hello: "world" }, ...body })
  expect(res.status, JSON.stringify(res.body)).toBe(202)
  return res.body as { notification_id: string; topic: string; created_at: string; recipients: number }
}

export const wsAs = (url: string, tenant: Tenant, user: string) =>
  connectWs(url, { headers: { "x-api-key": tenant.apiKey, "x-user-id": user } })

export const isNotification = (id?: string) => (f: Frame) =>
  f.type === "notification" && (id === undefined || f.notification_id === id)

/** Distinct notification ids among a socket's frames, in first-arrival order. */
export const notificationIds = (frames: ReadonlyArray<Frame>) => [...new Set(frames.filter(isNotification()).map((f) => f.notification_id))]

export const group = async (tenant: Tenant, owner: string, members: Array<string>) => {
  const res = await tenant.api.as(owner).post("/rooms", { type: "group", members })
  expect(res.status, JSON.stringify(res.body)).toBe(201)
  return res.body.room_id as string
}

export const send = async (tenant: Tenant, user: string, roomId: string, content: string) => {
  const res = await tenant.api.as(user).post(`/rooms/${roomId}/messages`, { content })
  expect(res.status, JSON.stringify(res.body)).toBe(201)
  return res.body as { message_id: string; seq: number }
}

/** Webhook calls of one event type, optionally narrowed by a predicate on `data`. */
export const ofEvent = (type: string, data: (d: any) => boolean = () => true) => (c: WebhookCall) =>
  c.json?.type === type && data(c.json.data ?? {})

export const attempt = (c: WebhookCall) => c.headers["x-chatapi-attempt"]
export const deliveryId = (c: WebhookCall) => c.headers["x-chatapi-delivery"]
