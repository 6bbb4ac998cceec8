-- A user's rooms (the cursors read on every connect, the room list) come from this index alone:
-- with room_id in it, it covers those reads, and the planner no longer prefers the primary key
-- on tenant_id alone, which read every membership of the tenant.
CREATE INDEX room_members_by_user_room ON room_members (tenant_id, user_id, room_id);

DROP INDEX room_members_by_user;
