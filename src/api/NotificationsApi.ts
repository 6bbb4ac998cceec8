import { HttpApiEndpoint, HttpApiGroup } from "@effect/platform"
import { Schema } from "effect"
import {
  ExistingSubscription, NotificationAck, NotificationId, NotificationList, NotificationQuery, NotifyRequest, NotifyResult,
  Subscribe, Subscription, SubscriptionList, Topic
} from "../domain/Notification.js"
import * as Errors from "./Errors.js"
import { TenantAuth, UserAuth } from "./Middleware.js"

/** `POST /notify`: the parent app's backend speaks for no particular user. */
export class NotifyApi extends HttpApiGroup.make("notify")
  .add(
    HttpApiEndpoint.post("notify", "/notify")
      .setPayload(NotifyRequest)
      .addSuccess(NotifyResult, { status: 202 })
      .addError(Errors.NotFound)
      .addError(Errors.PayloadTooLarge)
  )
  .addError(Errors.ValidationError)
  .middleware(TenantAuth)
{}

/** The caller's notifications and topic subscriptions. */
export class NotificationsApi extends HttpApiGroup.make("notifications")
  .add(HttpApiEndpoint.get("pending", "/notifications").setUrlParams(NotificationQuery).addSuccess(NotificationList))
  .add(
    HttpApiEndpoint.post("ack", "/notifications/:notification_id/ack")
      .setPath(Schema.Struct({ notification_id: NotificationId }))
      .addSuccess(NotificationAck)
      .addError(Errors.NotFound)
  )
  .add(
    HttpApiEndpoint.post("subscribe", "/subscriptions")
      .setPayload(Subscribe)
      .addSuccess(Subscription, { status: 201 })
      .addSuccess(ExistingSubscription, { status: 200 })
      .addError(Errors.Conflict)
  )
  .add(
    HttpApiEndpoint.del("unsubscribe", "/subscriptions/:topic")
      .setPath(Schema.Struct({ topic: Topic }))
      .addError(Errors.NotFound)
  )
  .add(HttpApiEndpoint.get("subscriptions", "/subscriptions").addSuccess(SubscriptionList))
  .addError(Errors.ValidationError)
  .middleware(UserAuth)
{}
