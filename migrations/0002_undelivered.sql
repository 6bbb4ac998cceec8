-- One entry per member who falls behind in a room (not one per message): the retry worker's queue.
CREATE TABLE undelivered_messages (
  tenant_id TEXT NOT NULL,
  room_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  from_seq BIGINT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  last_attempt_at BIGINT,
  next_attempt_at BIGINT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'dead')),
  error TEXT,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, room_id, user_id)
);

CREATE INDEX undelivered_due ON undelivered_messages (status, next_attempt_at);
