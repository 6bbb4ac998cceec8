import { HttpApiScalar, HttpLayerRouter, HttpServerResponse, OpenApi } from "@effect/platform"
import { Effect, JSONSchema, Layer } from "effect"
import * as fs from "node:fs"
import { Api } from "../api/Api.js"
import { UserAuth } from "../api/Middleware.js"
import { UserId } from "../domain/Ids.js"

const description = `Multitenant chat backend: rooms, gap-free per-room sequencing, live delivery, reconnect sync.

Tenant routes take \`X-API-Key\`; actions done by a user also take \`X-User-Id\`; admin routes take \`X-Master-Key\`.
Every error has the body \`{"error": {"code", "message", "field"?}}\`.

This document is served at [/openapi.json](/openapi.json). The realtime protocol (\`GET /ws\`) is not part of it:
see \`docs/websocket.md\`; browsers connect with \`/ws?token=\` from \`POST /tokens\`.`

const securityDescriptions: Record<string, string> = {
  apiKey: "The tenant's API key (`sk_...`), shown once at creation and on rotation.",
  masterKey: "The server's `MASTER_API_KEY`; without one configured the admin routes are closed."
}

const errorDescriptions: Record<string, string> = {
  400: "VALIDATION_ERROR: malformed request or a value out of range",
  401: "AUTHENTICATION_ERROR: missing, unknown or rotated key",
  403: "FORBIDDEN: authenticated, but not allowed",
  404: "NOT_FOUND: no such thing for this tenant",
  409: "CONFLICT: conflicts with the current state",
  413: "PAYLOAD_TOO_LARGE: over a size limit",
  429: "RATE_LIMIT_EXCEEDED: the tenant's bucket is empty (see Retry-After)",
  503: "UNAVAILABLE: the store cannot be written"
}

const summaries: Record<string, string> = {
  "health.health": "Liveness with a real write test",
  "admin.createTenant": "Create a tenant (its API key is shown only here)",
  "admin.listTenants": "List tenants",
  "admin.updateTenant": "Change a tenant's name or config",
  "admin.rotateKey": "Rotate a tenant's API key",
  "admin.deadLetters": "Deliveries the workers gave up on",
  "admin.replayDeadLetter": "Replay one dead letter",
  "admin.replayDeadLetters": "Replay every matching dead letter",
  "rooms.create": "Create a room (an existing DM answers 200)",
  "rooms.list": "The caller's rooms, most recent activity first",
  "rooms.get": "Read a room",
  "rooms.update": "Change a room's name or metadata",
  "rooms.members": "List a room's members",
  "rooms.addMembers": "Add members (or join a channel)",
  "rooms.removeMember": "Leave, or remove a member",
  "messages.send": "Send a message (idempotent with Idempotency-Key or client_msg_id)",
  "messages.history": "Page through a room's messages by seq",
  "messages.edit": "Edit one's own message",
  "messages.remove": "Delete a message (it stays as a tombstone)",
  "messages.ack": "Move the caller's read cursor forward",
  "tokens.create": "A short-lived connection token for /ws?token=",
  "notify.notify": "Relay a notification to users, a room or topic subscribers",
  "notifications.pending": "The caller's unacked notifications",
  "notifications.ack": "Ack a notification",
  "notifications.subscribe": "Subscribe to a topic",
  "notifications.unsubscribe": "Unsubscribe from a topic",
  "notifications.subscriptions": "The caller's topic subscriptions"
}

const usesUserAuth = (middlewares: ReadonlySet<unknown>) => middlewares.has(UserAuth)

/** `UserAuth` reads `X-User-Id` in middleware, so the generated document does not know the header. */
const userOperations = new Set(
  Object.values(Api.groups).flatMap((group) =>
    Object.values(group.endpoints)
      .filter((endpoint) => usesUserAuth(group.middlewares) || usesUserAuth(endpoint.middlewares))
      .map((endpoint) => group.topLevel ? endpoint.name : `${group.identifier}.${endpoint.name}`)
  )
)

const { $schema: _, ...userIdSchema } = JSONSchema.make(UserId) as unknown as Record<string, unknown>

const userHeader = {
  name: "X-User-Id",
  in: "header",
  required: true,
  description: "The user who acts, as the parent app knows them.",
  schema: userIdSchema
}

/** Effect marks `unknown` with `$id: "/schemas/unknown"` wherever it appears; a repeated `$id` is invalid JSON Schema. */
const dropMarkerIds = (node: unknown): void => {
  if (Array.isArray(node)) return node.forEach(dropMarkerIds)
  if (typeof node !== "object" || node === null) return
  const record = node as Record<string, unknown>
  if (typeof record.$id === "string" && record.$id.startsWith("/schemas/")) delete record.$id
  Object.values(record).forEach(dropMarkerIds)
}

const document = (spec: Record<string, any>) => {
  dropMarkerIds(spec)
  for (const [name, scheme] of Object.entries(spec.components.securitySchemes as Record<string, any>)) {
    if (securityDescriptions[name] !== undefined) scheme.description = securityDescriptions[name]
  }
  for (const operations of Object.values(spec.paths as Record<string, Record<string, any>>)) {
    for (const op of Object.values(operations)) {
      if (summaries[op.operationId] !== undefined) op.summary = summaries[op.operationId]
      if (userOperations.has(op.operationId)) op.parameters = [userHeader, ...op.parameters]
      for (const [status, response] of Object.entries(op.responses as Record<string, any>)) {
        if (errorDescriptions[status] !== undefined && op.operationId !== "health.health") {
          response.description = errorDescriptions[status]
        }
      }
    }
  }
  return spec
}

const packageVersion = Effect.sync(() =>
  (JSON.parse(fs.readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version
)

/** The contract as published: title, version, descriptions and the `X-User-Id` header. */
export const documentedApi = (version: string) =>
  Api.annotateContext(OpenApi.annotations({ title: "chatapi", version, description, transform: document }))

/** `GET /openapi.json` and `GET /docs` (Scalar, bundled in @effect/platform: no CDN). No authentication. */
export const DocsRoute = Layer.unwrapEffect(
  Effect.map(packageVersion, (version) => {
    const api = documentedApi(version)
    return Layer.merge(
      HttpLayerRouter.add("GET", "/openapi.json", HttpServerResponse.unsafeJson(OpenApi.fromApi(api))),
      HttpApiScalar.layerHttpLayerRouter({ api, path: "/docs", scalar: { withDefaultFonts: false, defaultOpenAllTags: true } })
    )
  })
)
