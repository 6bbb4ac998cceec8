-- Core chat schema. Every tenant table carries tenant_id; timestamps are epoch milliseconds.

CREATE TABLE tenants (
  tenant_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  api_key_hash TEXT NOT NULL UNIQUE,
  config TEXT NOT NULL DEFAULT '{}',
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);

CREATE TABLE rooms (
  tenant_id TEXT NOT NULL REFERENCES tenants (tenant_id),
  room_id TEXT NOT NULL,
  type TEXT NOT NULL CHECK (type IN ('dm', 'group', 'channel')),
  unique_key TEXT,
  name TEXT,
  metadata TEXT NOT NULL DEFAULT '{}',
  last_seq BIGINT NOT NULL DEFAULT 0,
  created_by TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  last_activity_at BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, room_id),
  UNIQUE (tenant_id, unique_key)
);

CREATE TABLE room_members (
  tenant_id TEXT NOT NULL,
  room_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
  joined_at BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, room_id, user_id),
  FOREIGN KEY (tenant_id, room_id) REFERENCES rooms (tenant_id, room_id)
);

CREATE INDEX room_members_by_user ON room_members (tenant_id, user_id);

-- The delivery cursor: one row per member and room, whatever the room's size.
CREATE TABLE delivery_state (
  tenant_id TEXT NOT NULL,
  room_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  last_ack BIGINT NOT NULL DEFAULT 0,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, room_id, user_id)
);

CREATE TABLE messages (
  tenant_id TEXT NOT NULL,
  room_id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  message_id TEXT NOT NULL,
  sender_id TEXT NOT NULL,
  content TEXT NOT NULL,
  meta TEXT NOT NULL DEFAULT '{}',
  client_msg_id TEXT,
  created_at BIGINT NOT NULL,
  edited_at BIGINT,
  deleted_at BIGINT,
  PRIMARY KEY (tenant_id, room_id, seq),
  UNIQUE (tenant_id, message_id),
  UNIQUE (tenant_id, room_id, sender_id, client_msg_id)
);

CREATE TABLE health_probe (
  id INTEGER PRIMARY KEY,
  checked_at BIGINT NOT NULL
);
