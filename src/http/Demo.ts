import { HttpApiBuilder, HttpLayerRouter } from "@effect/platform"
import { Effect, Layer, Redacted } from "effect"
import { DemoApi, DemoAuth, DemoCaller, RoomPresence } from "../api/DemoApi.js"
import { AppConfig } from "../AppConfig.js"
import { Unauthenticated } from "../domain/Errors.js"
import { ConnectionToken } from "../domain/Token.js"
import { MemberList, RoomList } from "../domain/Room.js"
import { RealtimeHub } from "../realtime/Hub.js"
import { Messages } from "../services/Messages.js"
import { Rooms } from "../services/Rooms.js"
import { Tokens } from "../services/Tokens.js"
import { DemoPageRoute } from "./DemoPage.js"
import { DemoTenant } from "./DemoTenant.js"
import { noteRequest } from "./RequestLog.js"
import { createdRoom } from "./Rooms.js"

const TOKEN_TTL_SECONDS = 3600

const DemoAuthLive = Layer.effect(
  DemoAuth,
  Effect.gen(function*() {
    const tokens = yield* Tokens
    const demo = yield* DemoTenant
    return {
      token: (token) =>
        Effect.gen(function*() {
          const claims = yield* tokens.verify(Redacted.value(token))
          if (claims.tenantId !== demo.tenantId) return yield* Effect.fail(new Unauthenticated({ message: "not a demo token" }))
          yield* noteRequest({ tenant_id: claims.tenantId, user_id: claims.userId })
          return { tenantId: claims.tenantId, userId: claims.userId }
        })
    }
  })
)

const SessionLive = HttpApiBuilder.group(DemoApi, "session", (handlers) =>
  Effect.gen(function*() {
    const tokens = yield* Tokens
    const demo = yield* DemoTenant
    return handlers.handle("token", ({ payload }) =>
      Effect.map(tokens.issue(demo.tenantId, payload.user_id, TOKEN_TTL_SECONDS), ({ expiresAt, token }) =>
        new ConnectionToken({ token, user_id: payload.user_id, expires_at: new Date(expiresAt).toISOString() }, true)))
  }))

const RoomsLive = HttpApiBuilder.group(DemoApi, "rooms", (handlers) =>
  Effect.gen(function*() {
    const rooms = yield* Rooms
    const messages = yield* Messages
    const hub = yield* RealtimeHub
    return handlers
      .handle("list", () =>
        Effect.flatMap(DemoCaller, (c) => Effect.map(rooms.list(c.tenantId, c.userId, 200), (list) => new RoomList({ rooms: list }, true))))
      .handle("create", ({ payload }) => Effect.flatMap(DemoCaller, (c) => Effect.flatMap(rooms.create(c.tenantId, c.userId, payload), createdRoom)))
      .handle("members", ({ path }) =>
        Effect.flatMap(DemoCaller, (c) => Effect.map(rooms.members(c.tenantId, c.userId, path.room_id), (members) => new MemberList({ members }, true))))
      .handle("presence", ({ path }) =>
        Effect.flatMap(DemoCaller, (c) =>
          Effect.flatMap(rooms.members(c.tenantId, c.userId, path.room_id), (members) =>
            Effect.map(hub.online(c.tenantId, members.map((m) => m.user_id)), (online) =>
              new RoomPresence({ online: members.map((m) => m.user_id).filter((u) => online.has(u)) }, true)))))
      .handle("history", ({ path, urlParams }) => Effect.flatMap(DemoCaller, (c) => messages.history(c.tenantId, c.userId, path.room_id, urlParams)))
  }))

const DemoRoutes = Layer.mergeAll(
  HttpLayerRouter.addHttpApi(DemoApi).pipe(Layer.provide([SessionLive, RoomsLive]), Layer.provide(DemoAuthLive)),
  DemoPageRoute
).pipe(Layer.provide(DemoTenant.Default))

/** `DEMO=1`: the demo page at `/demo` and the routes it calls; nothing at all otherwise. */
export const DemoRoute = Layer.unwrapEffect(Effect.map(AppConfig, ({ demo }) => (demo ? DemoRoutes : Layer.empty)))
