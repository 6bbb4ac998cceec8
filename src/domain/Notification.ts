import { Schema } from "effect"
import { RoomId, UserId } from "./Ids.js"

/** A notification topic: 1-128 characters of `A-Z a-z 0-9 . _ : -`, starting with a letter or digit. */
export const Topic = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, {
    message: () => "a topic is 1-128 characters of A-Z a-z 0-9 . _ : -, starting with a letter or digit"
  }),
  Schema.brand("Topic")
)
export type Topic = typeof Topic.Type

export const NotificationId = Schema.String.pipe(Schema.maxLength(128), Schema.brand("NotificationId"))
export type NotificationId = typeof NotificationId.Type

export const MAX_PAYLOAD_BYTES = 16_384
export const MAX_TARGET_USERS = 1000
export const MAX_SUBSCRIPTIONS = 1000

export const NotifyTargets = Schema.Struct({
  user_ids: Schema.optional(Schema.Array(UserId).pipe(Schema.maxItems(MAX_TARGET_USERS))),
  room_id: Schema.optional(RoomId),
  topic_subscribers: Schema.optional(Schema.Boolean)
})

export const NotifyRequest = Schema.Struct({
  topic: Topic,
  payload: Schema.Unknown,
  targets: NotifyTargets
})
export type NotifyRequest = typeof NotifyRequest.Type

export class NotifyResult extends Schema.Class<NotifyResult>("NotifyResult")({
  notification_id: NotificationId,
  topic: Topic,
  created_at: Schema.String,
  recipients: Schema.Int
}) {}

/** A notification as its recipient sees it (REST list and the WS `notification` frame). */
export class Notification extends Schema.Class<Notification>("Notification")({
  notification_id: NotificationId,
  topic: Topic,
  payload: Schema.Unknown,
  created_at: Schema.String
}) {}

export class NotificationList extends Schema.Class<NotificationList>("NotificationList")({
  notifications: Schema.Array(Notification)
}) {}

export const NotificationQuery = Schema.Struct({
  limit: Schema.optional(Schema.compose(Schema.NumberFromString, Schema.Int.pipe(Schema.between(1, 100))))
})

export class NotificationAck extends Schema.Class<NotificationAck>("NotificationAck")({
  notification_id: NotificationId,
  acked_at: Schema.String
}) {}

export const Subscribe = Schema.Struct({ topic: Topic })

export class Subscription extends Schema.Class<Subscription>("Subscription")({
  topic: Topic,
  created_at: Schema.String
}) {}

/** An existing subscription: served with 200 instead of 201. */
export class ExistingSubscription extends Subscription.extend<ExistingSubscription>("ExistingSubscription")({}) {}

export class SubscriptionList extends Schema.Class<SubscriptionList>("SubscriptionList")({
  subscriptions: Schema.Array(Subscription)
}) {}

/** The WS frame a recipient gets, live, on connect and on retry. */
export const notificationFrame = (n: Notification) => ({
  type: "notification",
  notification_id: n.notification_id,
  topic: n.topic,
  payload: n.payload,
  created_at: n.created_at
})
