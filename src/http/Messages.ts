import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import { Api } from "../api/Api.js"
import { CurrentCaller } from "../api/Middleware.js"
import { Acks } from "../services/Acks.js"
import { Messages } from "../services/Messages.js"
import { asCaller } from "./Rooms.js"

export const MessagesLive = HttpApiBuilder.group(Api, "messages", (handlers) =>
  Effect.gen(function*() {
    const messages = yield* Messages
    const acks = yield* Acks
    const limits = Effect.map(CurrentCaller, (c) => c.tenant.limits)
    return handlers
      .handle("send", ({ headers, path, payload }) =>
        asCaller((t, u) =>
          Effect.flatMap(limits, (l) =>
            messages.send(t, u, path.room_id, { ...payload, idempotencyKey: headers["idempotency-key"] }, l))))
      .handle("history", ({ path, urlParams }) => asCaller((t, u) => messages.history(t, u, path.room_id, urlParams)))
      .handle("edit", ({ path, payload }) =>
        asCaller((t, u) => Effect.flatMap(limits, (l) => messages.edit(t, u, path.room_id, path.message_id, payload, l))))
      .handle("remove", ({ path }) => asCaller((t, u) => messages.remove(t, u, path.room_id, path.message_id)))
      .handle("ack", ({ payload }) => asCaller((t, u) => acks.ack(t, u, payload)))
  }))
