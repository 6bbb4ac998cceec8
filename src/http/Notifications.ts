import { HttpApiBuilder, HttpServerResponse } from "@effect/platform"
import { Effect, Schema } from "effect"
import { Api } from "../api/Api.js"
import { CurrentTenant } from "../api/Middleware.js"
import { ExistingSubscription, NotificationList, type Subscription, SubscriptionList } from "../domain/Notification.js"
import { Notifications } from "../services/Notifications.js"
import { asCaller } from "./Rooms.js"

export const NotifyLive = HttpApiBuilder.group(Api, "notify", (handlers) =>
  Effect.gen(function*() {
    const notifications = yield* Notifications
    return handlers.handle("notify", ({ payload }) => Effect.flatMap(CurrentTenant, (tenant) => notifications.notify(tenant, payload)))
  }))

export const NotificationsLive = HttpApiBuilder.group(Api, "notifications", (handlers) =>
  Effect.gen(function*() {
    const notifications = yield* Notifications
    return handlers
      .handle("pending", ({ urlParams }) =>
        asCaller((t, u) =>
          Effect.map(notifications.pending(t, u, urlParams.limit ?? 50), (list) => new NotificationList({ notifications: list }, true))))
      .handle("ack", ({ path }) => asCaller((t, u) => notifications.ack(t, u, path.notification_id)))
      .handle("subscribe", ({ payload }) =>
        asCaller((t, u) =>
          Effect.flatMap(notifications.subscribe(t, u, payload.topic), (s): Effect.Effect<Subscription | HttpServerResponse.HttpServerResponse> =>
            s instanceof ExistingSubscription
              ? Effect.flatMap(Schema.encode(ExistingSubscription)(s), (body) => HttpServerResponse.json(body, { status: 200 })).pipe(Effect.orDie)
              : Effect.succeed(s))))
      .handle("unsubscribe", ({ path }) => asCaller((t, u) => notifications.unsubscribe(t, u, path.topic)))
      .handle("subscriptions", () =>
        asCaller((t, u) =>
          Effect.map(notifications.listSubscriptions(t, u), (list) => new SubscriptionList({ subscriptions: list }, true))))
  }))
