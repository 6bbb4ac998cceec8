import { FetchHttpClient } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { ChatRealtime, createRestClient, makeRest, Realtime, UserId } from "chatapi/client"
import { Chunk, Effect, Stream } from "effect"
import WebSocket from "ws"
import { FAST } from "../e2e/_helpers.js"
import { createTenant, startServer } from "../support/server.js"
import { FAST_BACKOFF } from "./_helpers.js"

/** A server and a tenant for the length of the test's scope. */
const tenant = Effect.acquireRelease(
  Effect.promise(async () => {
    const server = await startServer()
    return { server, ...await createTenant(server.url, "sdk-effect", FAST) }
  }),
  ({ server }) => Effect.promise(() => server.stop())
)

describe("SDK for Effect users", () => {
  it.scopedLive("the REST client is derived from the contract; the realtime client streams typed events", () =>
    Effect.gen(function*() {
      const { apiKey, server } = yield* tenant
      const rest = (userId: string) => makeRest({ baseUrl: server.url, apiKey, userId }).pipe(Effect.provide(FetchHttpClient.layer))
      const ann = yield* rest("ann")
      const created = yield* ann.rooms.create({ payload: { type: "dm", members: [UserId.make("ben")] } })
      const again = yield* ann.rooms.create({ payload: { type: "dm", members: [UserId.make("ben")] } })
      assert.strictEqual(again.room_id, created.room_id)
      assert.strictEqual(again.constructor.name, "ExistingRoom")
      const missing = yield* Effect.flip(ann.rooms.get({ path: { room_id: "no-such-room" as typeof created.room_id } }))
      assert.strictEqual(missing._tag, "NotFound")

      const ben = yield* rest("ben")
      const realtime = yield* Realtime.make({
        url: server.url,
        userId: "ben",
        WebSocket,
        backoff: FAST_BACKOFF,
        token: Effect.map(Effect.orDie(ben.tokens.create({ payload: {} })), (t) => t.token)
      })
      const firstTwo = yield* realtime.events.pipe(
        Stream.filter((e) => e.type === "message"),
        Stream.take(2),
        Stream.runCollect,
        Effect.fork
      )
      yield* realtime.connect
      assert.strictEqual(yield* realtime.status, "online")
      for (const content of ["one", "two"]) yield* ann.messages.send({ path: { room_id: created.room_id }, payload: { content }, headers: {} })
      const messages = Chunk.toArray(yield* Effect.fromFiber(firstTwo)).map((e) => (e.type === "message" ? [e.data.seq, e.data.content] : []))
      assert.deepStrictEqual(messages, [[1, "one"], [2, "two"]])

      const reply = yield* realtime.send(created.room_id, "three")
      assert.strictEqual(reply.seq, 3)
      const page = yield* ann.messages.history({ path: { room_id: created.room_id }, urlParams: {} })
      assert.deepStrictEqual(page.messages.map((m) => [m.seq, m.sender_id, m.content]), [[1, "ann", "one"], [2, "ann", "two"], [3, "ben", "three"]])
    }))

  it.scopedLive("ChatRealtime.layer provides the client as a service; it closes with its scope", () =>
    Effect.gen(function*() {
      const { apiKey, server } = yield* tenant
      const rest = createRestClient({ baseUrl: server.url, apiKey, userId: "cat" })
      const room = yield* Effect.promise(() => rest.rooms.create({ payload: { type: "group", members: [] } }))
      // With Promises, a request with nothing required may be left out.
      const listed = yield* Effect.promise(() => rest.rooms.list())
      assert.deepStrictEqual(listed.rooms.map((r) => r.room_id), [room.room_id])
      const failure = yield* Effect.flip(Effect.tryPromise({
        try: () => rest.messages.send({ path: { room_id: room.room_id }, payload: { content: "" } }),
        catch: (e) => e as { readonly _tag: string; readonly field?: string; readonly message: string }
      }))
      assert.deepStrictEqual([failure._tag, failure.field, failure.message], ["ValidationError", "content", "content must not be empty"])

      const layer = ChatRealtime.layer({
        url: server.url,
        userId: "cat",
        WebSocket,
        token: Effect.promise(() => rest.tokens.create({ payload: {} })).pipe(Effect.map((t) => t.token))
      })
      const status = yield* Effect.scoped(Effect.gen(function*() {
        const chat = yield* ChatRealtime
        yield* chat.connect
        const sent = yield* chat.send(room.room_id, "via the layer")
        assert.strictEqual(sent.seq, 1)
        return chat
      }).pipe(Effect.provide(layer)))
      assert.strictEqual(yield* status.status, "closed")
    }))
})
