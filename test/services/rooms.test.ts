import { assert, describe, it } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { Effect, Either, Option, Redacted } from "effect"
import type { Seq, UserId } from "../../src/domain/Ids.js"
import { ExistingRoom } from "../../src/domain/Room.js"
import { Acks } from "../../src/services/Acks.js"
import { Messages } from "../../src/services/Messages.js"
import { Rooms } from "../../src/services/Rooms.js"
import { Tenants } from "../../src/services/Tenants.js"
import { servicesOnSqlite } from "../support/layers.js"

const user = (id: string) => id as UserId

describe("Rooms, Acks and Tenants", () => {
  it.layer(servicesOnSqlite())((it) => {
    it.effect("creates one DM under concurrent creation, keyed dm:<min>:<max>", () =>
      Effect.gen(function*() {
        const tenants = yield* Tenants
        const rooms = yield* Rooms
        const { tenant_id } = yield* tenants.create("acme")
        const created = yield* Effect.all(
          Array.from({ length: 10 }, (_, i) =>
            i % 2 === 0
              ? rooms.create(tenant_id, user("zed"), { type: "dm", members: ["amy" as UserId] })
              : rooms.create(tenant_id, user("amy"), { type: "dm", members: ["zed" as UserId] })),
          { concurrency: "unbounded" }
        )
        assert.strictEqual(new Set(created.map((r) => r.room_id)).size, 1)
        assert.strictEqual(created.filter((r) => !(r instanceof ExistingRoom)).length, 1)
        assert.strictEqual(created[0]!.unique_key, "dm:amy:zed")
      }))

    it.effect("lets anyone join and read a channel but keeps groups private", () =>
      Effect.gen(function*() {
        const tenants = yield* Tenants
        const rooms = yield* Rooms
        const { tenant_id } = yield* tenants.create("acme")
        const channel = yield* rooms.create(tenant_id, user("owner"), { type: "channel", members: [] })
        const group = yield* rooms.create(tenant_id, user("owner"), { type: "group", members: [] })
        assert.strictEqual((yield* rooms.get(tenant_id, user("visitor"), channel.room_id)).room_id, channel.room_id)
        const denied = yield* Effect.either(rooms.get(tenant_id, user("visitor"), group.room_id))
        assert.isTrue(Either.isLeft(denied) && denied.left._tag === "Forbidden")
        const joined = yield* rooms.addMembers(tenant_id, user("visitor"), channel.room_id, { user_ids: [user("visitor")] })
        assert.deepStrictEqual(joined.map((m) => [m.user_id, m.role]), [["visitor", "member"]])
        const sneaky = yield* Effect.either(rooms.addMembers(tenant_id, user("visitor"), group.room_id, { user_ids: [user("visitor")] }))
        assert.isTrue(Either.isLeft(sneaky) && sneaky.left._tag === "Forbidden")
      }))

    it.effect("hands ownership on when the owner leaves", () =>
      Effect.gen(function*() {
        const tenants = yield* Tenants
        const rooms = yield* Rooms
        const { tenant_id } = yield* tenants.create("acme")
        const room = yield* rooms.create(tenant_id, user("o"), { type: "group", members: [user("m")] })
        yield* rooms.addMembers(tenant_id, user("o"), room.room_id, { user_ids: [user("a")], role: "admin" })
        yield* rooms.removeMember(tenant_id, user("o"), room.room_id, user("o"))
        const members = yield* rooms.members(tenant_id, user("a"), room.room_id)
        assert.deepStrictEqual(members.map((m) => [m.user_id, m.role]).sort(), [["a", "owner"], ["m", "member"]])
      }))

    it.effect("moves the read cursor forward only and counts others' unread messages", () =>
      Effect.gen(function*() {
        const tenants = yield* Tenants
        const rooms = yield* Rooms
        const messages = yield* Messages
        const acks = yield* Acks
        const { tenant_id } = yield* tenants.create("acme")
        const limits = tenants.limits({})
        const room = yield* rooms.create(tenant_id, user("a"), { type: "group", members: [user("b")] })
        for (let i = 0; i < 5; i++) yield* messages.send(tenant_id, user("a"), room.room_id, { content: `m${i}` }, limits)
        yield* messages.send(tenant_id, user("b"), room.room_id, { content: "mine" }, limits)
        assert.strictEqual((yield* acks.ack(tenant_id, user("b"), { room_id: room.room_id, seq: 3 as Seq })).unread, 2)
        const back = yield* acks.ack(tenant_id, user("b"), { room_id: room.room_id, seq: 1 as Seq })
        assert.strictEqual(back.last_ack, 3)
        const [summary] = yield* rooms.list(tenant_id, user("b"), 10)
        assert.deepStrictEqual([summary!.last_seq, summary!.last_ack, summary!.unread], [6, 3, 2])
        const beyond = yield* Effect.either(acks.ack(tenant_id, user("b"), { room_id: room.room_id, seq: 7 as Seq }))
        assert.isTrue(Either.isLeft(beyond) && beyond.left._tag === "ValidationError")
      }))

    it.effect("authenticates by key, and a rotated key stops working", () =>
      Effect.gen(function*() {
        const tenants = yield* Tenants
        const created = yield* tenants.create("acme")
        assert.match(created.api_key, /^sk_[A-Za-z0-9_-]{43}$/)
        const ok = yield* tenants.authenticate(Redacted.make(created.api_key))
        assert.strictEqual(ok.tenant.tenant_id, created.tenant_id)
        const rotated = yield* tenants.rotateKey(created.tenant_id)
        const old = yield* Effect.either(tenants.authenticate(Redacted.make(created.api_key)))
        assert.isTrue(Either.isLeft(old))
        assert.isTrue(Either.isRight(yield* Effect.either(tenants.authenticate(Redacted.make(rotated.api_key)))))
        const listed = yield* tenants.list
        assert.isTrue(Option.isSome(Option.fromNullable(listed.find((t) => t.tenant_id === created.tenant_id))))
        assert.notProperty(listed[0]!, "api_key")
      }))

    it.effect("reads a user's rooms on connect from the covering index, not from every membership of the tenant", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        // The shape of RoomsRepo.cursors, read on every connect.
        const plan = yield* sql.unsafe<{ detail: string }>(
          `EXPLAIN QUERY PLAN SELECT m.room_id, COALESCE(d.last_ack, 0) AS last_ack, r.last_seq FROM room_members m
            JOIN rooms r ON r.tenant_id = m.tenant_id AND r.room_id = m.room_id
            LEFT JOIN delivery_state d ON d.tenant_id = m.tenant_id AND d.room_id = m.room_id AND d.user_id = m.user_id
            WHERE m.tenant_id = ? AND m.user_id = ?`,
          ["acme", "amy"]
        )
        const members = plan.map((row) => row.detail).find((detail) => / m /.test(` ${detail} `))
        assert.strictEqual(members, "SEARCH m USING COVERING INDEX room_members_by_user_room (tenant_id=? AND user_id=?)")
      }))
  })
})
