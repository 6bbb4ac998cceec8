import { SqlClient } from "@effect/sql"
import type Database from "better-sqlite3"
import { SqlError } from "@effect/sql/SqlError"
import { Cause, Data, Effect, Option } from "effect"
import { v7 as uuidv7 } from "uuid"
import { MessagesRepo, type MessageRow, toMessage } from "../db/MessagesRepo.js"
import { SqliteDirect } from "../db/Sqlite.js"
import { type Forbidden, type NotFound, notFound } from "../domain/Errors.js"
import type { MessageId, RoomId, Seq, TenantId, UserId } from "../domain/Ids.js"
import { Message, messageFrame } from "../domain/Message.js"
import type { RoomType } from "../domain/Room.js"
import { Bus, roomFrame } from "../realtime/Bus.js"
import { Metrics } from "./Metrics.js"
import { Rooms, writeRefusal } from "./Rooms.js"

/** One message to store with its room's next seq. */
export interface Append {
  readonly tenantId: TenantId
  readonly sender: UserId
  readonly roomId: string
  readonly content: string
  readonly meta: Record<string, unknown>
  /** Idempotency-Key or client_msg_id: a retry with the same key returns the original. */
  readonly key: string | null
  /** The connection that sent it, which gets `message.sent` instead of `message`. */
  readonly origin?: string | undefined
}

/**
 * Message ids are UUIDv7: ordered by time, so each lands at the end of the store's id index rather
 * than at a random place in it (random v4 ids made SQLite's insert twice as slow at 100,000 rows
 * and more: a random index page touched per insert).
 */
const newMessage = (input: Append, roomId: RoomId, seq: number, now: number) =>
  new Message({
    message_id: uuidv7() as MessageId,
    room_id: roomId,
    seq: seq as Seq,
    sender_id: input.sender,
    content: input.content,
    meta: input.meta,
    client_msg_id: input.key,
    created_at: new Date(now).toISOString(),
    edited_at: null,
    deleted: false,
    deleted_at: null
  }, true)

/** A retried send found its original inside the transaction: roll back the seq it took. */
class Replay extends Data.TaggedError("Replay")<{ readonly message: Message }> {}

type Outcome =
  | { readonly _tag: "Stored"; readonly message: Message }
  | { readonly _tag: "Existing"; readonly message: Message }
  | { readonly _tag: "Refused"; readonly error: NotFound | Forbidden }

const SQL = {
  access: `SELECT r.room_id, r.type, m.role FROM rooms r
    LEFT JOIN room_members m ON m.tenant_id = r.tenant_id AND m.room_id = r.room_id AND m.user_id = ?
    WHERE r.tenant_id = ? AND r.room_id = ?`,
  existing: `SELECT * FROM messages WHERE tenant_id = ? AND room_id = ? AND sender_id = ? AND client_msg_id = ?`,
  nextSeq: `UPDATE rooms SET last_seq = last_seq + 1, last_activity_at = ? WHERE tenant_id = ? AND room_id = ? RETURNING last_seq`,
  insert: `INSERT INTO messages (tenant_id, room_id, seq, message_id, sender_id, content, meta, client_msg_id, created_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
} as const

/**
 * Group commit on SQLite: every send read in the same turn of the event loop (and any that waited
 * while the connection was busy) is stored in one transaction, each in a savepoint of its own,
 * with prepared statements run synchronously. Each still takes its own seq and is answered only
 * after the commit.
 */
const sqliteBatch = (db: Database.Database) => {
  const access = db.prepare(SQL.access)
  const existing = db.prepare(SQL.existing)
  const nextSeq = db.prepare(SQL.nextSeq)
  const insert = db.prepare(SQL.insert)
  const one = db.transaction((input: Append, now: number): Outcome => {
    const room = access.get(input.sender, input.tenantId, input.roomId) as { room_id: RoomId; type: RoomType; role: string | null } | undefined
    if (room === undefined) return { _tag: "Refused", error: notFound("room") }
    if (room.role === null) return { _tag: "Refused", error: writeRefusal(room.type) }
    if (input.key !== null) {
      const row = existing.get(input.tenantId, room.room_id, input.sender, input.key) as MessageRow | undefined
      if (row !== undefined) return { _tag: "Existing", message: toMessage(row) }
    }
    const { last_seq } = nextSeq.get(now, input.tenantId, room.room_id) as { last_seq: number }
    const message = newMessage(input, room.room_id, last_seq, now)
    insert.run(input.tenantId, room.room_id, last_seq, message.message_id, input.sender, input.content, JSON.stringify(input.meta), input.key, now)
    return { _tag: "Stored", message }
  })
  // BEGIN IMMEDIATE: the write lock up front (waiting up to busy_timeout), so another process's
  // commit between the first read and the first write cannot fail the batch.
  return db.transaction((inputs: ReadonlyArray<Append>) => {
    const now = Date.now()
    return inputs.map((input): Outcome | { readonly _tag: "Failed"; readonly cause: unknown } => {
      try {
        return one(input, now)
      } catch (cause) {
        return { _tag: "Failed", cause }
      }
    })
  }).immediate
}

const MAX_BATCH = 256

/** Stores messages with gap-free per-room seqs and tells the room once each is committed. */
export class Sequencer extends Effect.Service<Sequencer>()("services/Sequencer", {
  dependencies: [MessagesRepo.Default, Rooms.Default, Bus.Default, Metrics.Default],
  scoped: Effect.gen(function*() {
    const bus = yield* Bus
    const metrics = yield* Metrics
    const told = (input: Append, message: Message) => {
      metrics.messageSent(input.origin === undefined ? "rest" : "ws")
      return bus.publish(roomFrame(input.tenantId, message.room_id, messageFrame(message), { seq: message.seq, origin: input.origin }))
    }
    const direct = yield* Effect.serviceOption(SqliteDirect)
    const append = Option.isSome(direct) ? yield* sqliteAppend(direct.value, metrics, told) : yield* sqlAppend(told)
    return { append } as const
  })
}) {}

type Tell = (input: Append, message: Message) => Effect.Effect<void>

type Answer = Effect.Effect<Message, NotFound | Forbidden>

interface Pending {
  readonly input: Append
  /** Resumes the waiting send with its outcome. */
  readonly answer: (outcome: Answer) => void
}

/**
 * SQLite: one writer fiber takes every waiting send and commits them together. A send waits on a
 * plain callback in a plain array (no queue or deferred per message); the writer, when idle, is
 * woken at the end of the event loop's turn in which the first send arrived, so that every
 * request read in that turn joins the batch (a batch of one per commit otherwise).
 */
const sqliteAppend = (direct: SqliteDirect["Type"], metrics: Metrics, told: Tell) =>
  Effect.gen(function*() {
    const batch = yield* direct.run(sqliteBatch).pipe(Effect.orDie)
    let waiting: Array<Pending> = []
    /** Set while the writer waits for work. */
    let wake: (() => void) | undefined
    const work = Effect.async<Array<Pending>>((resume) => {
      const take = () => {
        const taken = waiting.length <= MAX_BATCH ? waiting : waiting.slice(0, MAX_BATCH)
        waiting = taken === waiting ? [] : waiting.slice(MAX_BATCH)
        resume(Effect.succeed(taken))
      }
      // Sends arrived while the last batch ran: still let this turn's requests join them.
      if (waiting.length > 0) {
        const handle = setImmediate(take)
        return Effect.sync(() => clearImmediate(handle))
      }
      wake = take
      return Effect.sync(() => void (wake = undefined))
    })
    const store = (pending: Array<Pending>) =>
      direct.run(() => batch(pending.map((p) => p.input))).pipe(
        Effect.matchCauseEffect({
          // The whole transaction failed (the disk, a lock held too long): every send in it fails.
          onFailure: (cause) =>
            Effect.sync(() => {
              const defect = Effect.die(Cause.squash(cause))
              for (const p of pending) p.answer(defect)
            }),
          onSuccess: (outcomes) => {
            metrics.groupCommit(pending.length)
            const stored: Array<readonly [Append, Message]> = []
            outcomes.forEach((outcome, i) => {
              const p = pending[i]!
              switch (outcome._tag) {
                case "Stored":
                  stored.push([p.input, outcome.message])
                  return p.answer(Effect.succeed(outcome.message))
                case "Existing":
                  return p.answer(Effect.succeed(outcome.message))
                case "Refused":
                  return p.answer(Effect.fail(outcome.error))
                case "Failed":
                  return p.answer(Effect.die(new SqlError({ cause: outcome.cause, message: "Failed to store a message" })))
              }
            })
            // Answer, then tell: the senders' 201s are not held behind the fan-out to the rooms.
            return Effect.forEach(stored, ([input, message]) => told(input, message), { discard: true })
          }
        })
      )
    yield* work.pipe(Effect.flatMap(store), Effect.forever, Effect.forkScoped)
    return (input: Append): Answer =>
      Effect.async<Message, NotFound | Forbidden>((answer) => {
        waiting.push({ input, answer })
        if (wake !== undefined) {
          const take = wake
          wake = undefined
          setImmediate(take)
        }
      })
  })

/**
 * Any SQL store (PostgreSQL): the seq increment and the insert share one transaction, so seqs are
 * gap-free; the idempotency check runs after the room row is locked, so concurrent retries of one
 * key store one message.
 */
const sqlAppend = (told: Tell) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const repo = yield* MessagesRepo
    const rooms = yield* Rooms
    return (input: Append): Effect.Effect<Message, NotFound | Forbidden> =>
      Effect.gen(function*() {
        const { room } = yield* rooms.writable(input.tenantId, input.sender, input.roomId)
        const key = input.key
        if (key !== null) {
          const existing = yield* repo.findByClientId(input.tenantId, room.room_id, input.sender, key)
          if (Option.isSome(existing)) return existing.value
        }
        const now = Date.now()
        return yield* Effect.gen(function*() {
          const seq = yield* repo.nextSeq(input.tenantId, room.room_id, now)
          if (key !== null) {
            const existing = yield* repo.findByClientId(input.tenantId, room.room_id, input.sender, key)
            if (Option.isSome(existing)) return yield* Effect.fail(new Replay({ message: existing.value }))
          }
          const message = newMessage(input, room.room_id, seq, now)
          yield* repo.insert(input.tenantId, message)
          return message
        }).pipe(
          sql.withTransaction,
          // Store, then tell: the event goes out only after the commit.
          Effect.tap((m) => told(input, m)),
          Effect.catchTags({ Replay: (r) => Effect.succeed(r.message), SqlError: Effect.die })
        )
      })
  })
