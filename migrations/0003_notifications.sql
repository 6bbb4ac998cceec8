-- Notifications relay, topic subscriptions and the tenant webhook outbox.

CREATE TABLE notifications (
  tenant_id TEXT NOT NULL,
  notification_id TEXT NOT NULL,
  topic TEXT NOT NULL,
  payload TEXT NOT NULL,
  recipients INTEGER NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, notification_id)
);

-- One row per recipient, resolved once when the notification is stored.
CREATE TABLE notification_deliveries (
  tenant_id TEXT NOT NULL,
  notification_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'acked', 'dead')),
  attempts INTEGER NOT NULL DEFAULT 0,
  last_attempt_at BIGINT,
  next_attempt_at BIGINT NOT NULL,
  error TEXT,
  created_at BIGINT NOT NULL,
  acked_at BIGINT,
  PRIMARY KEY (tenant_id, notification_id, user_id)
);

CREATE INDEX notification_deliveries_by_user ON notification_deliveries (tenant_id, user_id, status, created_at);
CREATE INDEX notification_deliveries_due ON notification_deliveries (status, next_attempt_at);

CREATE TABLE notification_subscriptions (
  tenant_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  topic TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, user_id, topic)
);

CREATE INDEX notification_subscriptions_by_topic ON notification_subscriptions (tenant_id, topic);

-- Webhook events wait here until the receiver answers 2xx or the attempts run out.
CREATE TABLE webhook_deliveries (
  delivery_id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  event TEXT NOT NULL,
  body TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
  attempts INTEGER NOT NULL DEFAULT 0,
  last_attempt_at BIGINT,
  next_attempt_at BIGINT NOT NULL,
  last_status INTEGER,
  error TEXT,
  created_at BIGINT NOT NULL,
  delivered_at BIGINT
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);

-- The last seq a member who fell behind was told about by a message.offline webhook.
ALTER TABLE undelivered_messages ADD COLUMN notified_seq BIGINT NOT NULL DEFAULT 0;
