import { SqlClient } from "@effect/sql"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import type { UserId } from "../../src/domain/Ids.js"
import { Messages } from "../../src/services/Messages.js"
import { Rooms } from "../../src/services/Rooms.js"
import { Tenants } from "../../src/services/Tenants.js"
import { servicesOnSqlite } from "../support/layers.js"

const user = (id: string) => id as UserId

const setup = (members: number) =>
  Effect.gen(function*() {
    const tenants = yield* Tenants
    const rooms = yield* Rooms
    const { tenant_id } = yield* tenants.create("acme")
    const others = Array.from({ length: members - 1 }, (_, i) => user(`u${i}`))
    const room = yield* rooms.create(tenant_id, user("alice"), { type: "group", members: others })
    const limits = tenants.limits({})
    return { tenantId: tenant_id, room, limits }
  })

describe("Messages", () => {
  it.layer(servicesOnSqlite())((it) => {
    it.effect("gives concurrent sends the seqs 1..N without gap or duplicate", () =>
      Effect.gen(function*() {
        const messages = yield* Messages
        const { limits, room, tenantId } = yield* setup(3)
        const senders = [user("alice"), user("u0"), user("u1")]
        const sent = yield* Effect.all(
          Array.from({ length: 120 }, (_, i) =>
            messages.send(tenantId, senders[i % 3]!, room.room_id, { content: `m${i}` }, limits)),
          { concurrency: "unbounded" }
        )
        assert.deepStrictEqual(sent.map((m) => m.seq).sort((a, b) => a - b), Array.from({ length: 120 }, (_, i) => i + 1))
        const page = yield* messages.history(tenantId, user("u0"), room.room_id, { after_seq: 0 as never, limit: 100 })
        assert.deepStrictEqual(page.messages.map((m) => m.seq), Array.from({ length: 100 }, (_, i) => i + 1))
        assert.isTrue(page.has_more)
      }))

    it.effect("answers each of many concurrent sends on its own: refused ones fail, the rest of the same commit are stored", () =>
      Effect.gen(function*() {
        const messages = yield* Messages
        const first = yield* setup(2)
        const second = yield* setup(2)
        const attempts = Array.from({ length: 60 }, (_, i) => {
          const target = i % 2 === 0 ? first : second
          // Every third send comes from someone who is not a member; every fifth names no room at all.
          const sender = i % 3 === 0 ? user("stranger") : user("alice")
          const roomId = i % 5 === 0 ? "no-such-room" : target.room.room_id
          return Effect.either(messages.send(target.tenantId, sender, roomId, { content: `m${i}` }, target.limits)).pipe(
            Effect.map((result) => ({ i, result }))
          )
        })
        const results = yield* Effect.all(attempts, { concurrency: "unbounded" })
        for (const { i, result } of results) {
          if (i % 5 === 0) assert.strictEqual(Either.isLeft(result) && result.left._tag, "NotFound", `send ${i}`)
          else if (i % 3 === 0) assert.strictEqual(Either.isLeft(result) && result.left._tag, "Forbidden", `send ${i}`)
          else assert.isTrue(Either.isRight(result), `send ${i}`)
        }
        for (const [n, target] of [[0, first], [1, second]] as const) {
          const stored = results.filter(({ i }) => i % 2 === n && i % 5 !== 0 && i % 3 !== 0).length
          const page = yield* messages.history(target.tenantId, user("alice"), target.room.room_id, { after_seq: 0 as never, limit: 100 })
          assert.deepStrictEqual(page.messages.map((m) => m.seq), Array.from({ length: stored }, (_, k) => k + 1))
        }
      }))

    it.effect("stores one message for concurrent retries of one client_msg_id", () =>
      Effect.gen(function*() {
        const messages = yield* Messages
        const { limits, room, tenantId } = yield* setup(2)
        const sent = yield* Effect.all(
          Array.from({ length: 20 }, () =>
            messages.send(tenantId, user("alice"), room.room_id, { content: "once", client_msg_id: "k-1" }, limits)),
          { concurrency: "unbounded" }
        )
        assert.strictEqual(new Set(sent.map((m) => m.message_id)).size, 1)
        const next = yield* messages.send(tenantId, user("alice"), room.room_id, { content: "next" }, limits)
        assert.strictEqual(next.seq, 2, "a replay must not burn a seq")
      }))

    it.effect("costs the same row writes per message in a 1,000-member room as in a 2-member room", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const messages = yield* Messages
        const writes = (members: number) =>
          Effect.gen(function*() {
            const { limits, room, tenantId } = yield* setup(members)
            const [before] = yield* sql<{ n: number }>`SELECT total_changes() AS n`
            yield* messages.send(tenantId, user("alice"), room.room_id, { content: "hi" }, limits)
            const [after] = yield* sql<{ n: number }>`SELECT total_changes() AS n`
            return after!.n - before!.n
          })
        const small = yield* writes(2)
        const large = yield* writes(1000)
        assert.strictEqual(small, 2, "one room update and one message insert")
        assert.strictEqual(large, small)
      }))

    it.effect("gives messages UUIDv7 ids in the order they are stored (each lands at the end of the id index)", () =>
      Effect.gen(function*() {
        const messages = yield* Messages
        const { limits, room, tenantId } = yield* setup(2)
        const sent: Array<string> = []
        for (let i = 0; i < 50; i++) sent.push((yield* messages.send(tenantId, user("alice"), room.room_id, { content: `m${i}` }, limits)).message_id)
        for (const id of sent) assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
        assert.deepStrictEqual([...sent].sort(), sent)
      }))

    it.effect("rejects empty and oversized content with typed errors", () =>
      Effect.gen(function*() {
        const messages = yield* Messages
        const { limits, room, tenantId } = yield* setup(2)
        const empty = yield* Effect.either(messages.send(tenantId, user("alice"), room.room_id, { content: "  " }, limits))
        assert.isTrue(Either.isLeft(empty) && empty.left._tag === "ValidationError")
        const big = yield* Effect.either(
          messages.send(tenantId, user("alice"), room.room_id, { content: "x".repeat(limits.maxMessageBytes + 1) }, limits)
        )
        assert.isTrue(Either.isLeft(big) && big.left._tag === "PayloadTooLarge")
        const outsider = yield* Effect.either(messages.send(tenantId, user("mallory"), room.room_id, { content: "hi" }, limits))
        assert.isTrue(Either.isLeft(outsider) && outsider.left._tag === "Forbidden")
      }))

    it.effect("keeps a deleted message's seq as a tombstone", () =>
      Effect.gen(function*() {
        const messages = yield* Messages
        const { limits, room, tenantId } = yield* setup(2)
        const m = yield* messages.send(tenantId, user("alice"), room.room_id, { content: "oops" }, limits)
        yield* messages.remove(tenantId, user("alice"), room.room_id, m.message_id)
        const page = yield* messages.history(tenantId, user("u0"), room.room_id, {})
        assert.strictEqual(page.messages[0]!.seq, m.seq)
        assert.isTrue(page.messages[0]!.deleted)
        assert.strictEqual(page.messages[0]!.content, "")
      }))
  })
})
