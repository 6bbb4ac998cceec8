import { SqliteClient } from "@effect/sql-sqlite-node"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Either, Layer, TestClock } from "effect"
import * as path from "node:path"
import { AppConfig, parseDatabase, parseDuration, parseListenAddr } from "../../src/AppConfig.js"
import { SqlClient } from "@effect/sql"
import { loadMigrations, migrate, migrationsDir } from "../../src/db/Migrator.js"
import { Health } from "../../src/services/Health.js"
import { RateLimiter } from "../../src/services/RateLimiter.js"
import { testConfig } from "../support/layers.js"
import { tempDir } from "../support/server.js"

describe("RateLimiter", () => {
  it.effect("refuses past the burst and refills at the rate", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter
      const first = yield* Effect.all(Array.from({ length: 3 }, () => limiter.take("t", 1, 3)))
      assert.deepStrictEqual(first.map((d) => [d.allowed, d.remaining]), [[true, 2], [true, 1], [true, 0]])
      const refused = yield* limiter.take("t", 1, 3)
      assert.isFalse(refused.allowed)
      assert.strictEqual(refused.retryAfterSeconds, 1)
      assert.isTrue((yield* limiter.take("other", 1, 3)).allowed, "buckets are per key")
      yield* TestClock.adjust(Duration.seconds(1))
      assert.isTrue((yield* limiter.take("t", 1, 3)).allowed)
    }).pipe(Effect.provide(RateLimiter.Default)))
})

describe("Health", () => {
  it.effect("reports the store unwritable when a write fails", () =>
    Effect.gen(function*() {
      const filename = path.join(tempDir(), "ro.db")
      yield* migrate.pipe(Effect.provide(SqliteClient.layer({ filename })))
      const report = yield* Health.pipe(
        Effect.flatMap((h) => h.check),
        Effect.provide(Health.Default.pipe(Layer.provide(SqliteClient.layer({ filename, readonly: true }))))
      )
      assert.deepStrictEqual([report.status, report.db_writable], ["unavailable", false])
      const writable = yield* Health.pipe(
        Effect.flatMap((h) => h.check),
        Effect.provide(Health.Default.pipe(Layer.provide(SqliteClient.layer({ filename }))))
      )
      assert.isTrue(writable.db_writable)
    }))
})

describe("Migrations", () => {
  it.effect("0005 keeps every message and indexes only the messages with an idempotency key", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      // A database as 0004 left it, holding messages with and without a key.
      yield* sql`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`
      for (const m of loadMigrations(migrationsDir).filter((m) => m.version <= 4)) {
        for (const statement of m.statements) yield* sql.unsafe(statement)
        yield* sql`INSERT INTO schema_migrations VALUES (${m.version}, ${m.name}, 0)`
      }
      const insert = (seq: number, key: string | null) =>
        sql`INSERT INTO messages (tenant_id, room_id, seq, message_id, sender_id, content, meta, client_msg_id, created_at, edited_at)
          VALUES ('t', 'r', ${seq}, ${`m${seq}`}, 'ann', ${`hello ${seq}`}, '{"a":1}', ${key}, ${seq}, ${seq === 2 ? 7 : null})`
      yield* Effect.forEach([[1, "k1"], [2, null], [3, null]] as const, ([seq, key]) => insert(seq, key))
      const before = yield* sql`SELECT * FROM messages ORDER BY seq`

      yield* migrate
      assert.deepStrictEqual(yield* sql`SELECT * FROM messages ORDER BY seq`, before)
      // Keyless messages stay many; a key stays unique per tenant, room and sender.
      yield* insert(4, null)
      assert.isTrue(Either.isLeft(yield* Effect.either(insert(5, "k1"))))
      const indexes = yield* sql<{ name: string; partial: number }>`PRAGMA index_list(messages)`
      assert.deepStrictEqual(indexes.find((i) => i.name === "messages_by_client_msg_id")?.partial, 1)
      const keyed = yield* Effect.forEach(indexes, (i) => sql<{ name: string }>`SELECT name FROM pragma_index_info(${i.name})`.pipe(
        Effect.map((columns) => columns.some((c) => c.name === "client_msg_id") ? [i.name] : [])
      ))
      assert.deepStrictEqual(keyed.flat(), ["messages_by_client_msg_id"])
      // The send's lookup of a key reads that index.
      const plan = yield* sql.unsafe<{ detail: string }>(
        "EXPLAIN QUERY PLAN SELECT * FROM messages WHERE tenant_id = ? AND room_id = ? AND sender_id = ? AND client_msg_id = ?",
        ["t", "r", "ann", "k1"]
      )
      assert.include(plan.map((p) => p.detail).join(" "), "messages_by_client_msg_id")
    }).pipe(Effect.provide(SqliteClient.layer({ filename: path.join(tempDir(), "m5.db") }))))
})

describe("AppConfig", () => {
  const load = (env: Record<string, string>) =>
    Effect.either(AppConfig.pipe(Effect.provide(AppConfig.Default), Effect.provide(testConfig(env))))

  it.effect("has defaults that work out of the box", () =>
    Effect.gen(function*() {
      const config = yield* Effect.flatMap(load({}), Either.match({ onLeft: Effect.die, onRight: Effect.succeed }))
      assert.deepStrictEqual(config.listen, { host: undefined, port: 8080 })
      assert.strictEqual(config.defaultBurst, 200)
      assert.strictEqual(config.database._tag, "Sqlite")
    }))

  it.effect("names the variable in the error for a bad value", () =>
    Effect.gen(function*() {
      for (const [name, value] of [["DEFAULT_RATE_LIMIT", "fast"], ["LISTEN_ADDR", "nope"], ["RETRY_INTERVAL", "5 minutes"], ["LOG_LEVEL", "loud"], ["DATABASE_DSN", "mysql://x"]]) {
        const result = yield* load({ [name!]: value! })
        assert.isTrue(Either.isLeft(result), name)
        if (Either.isLeft(result)) assert.include(String(result.left), name!)
      }
    }))

  it("parses listen addresses, durations and DSNs", () => {
    assert.deepStrictEqual(Either.getOrThrow(parseListenAddr("127.0.0.1:0")), { host: "127.0.0.1", port: 0 })
    assert.deepStrictEqual(Either.getOrThrow(parseListenAddr("[::1]:9000")), { host: "::1", port: 9000 })
    assert.isTrue(Either.isLeft(parseListenAddr(":99999")))
    assert.strictEqual(Duration.toMillis(Either.getOrThrow(parseDuration("500ms"))), 500)
    assert.strictEqual(Duration.toMillis(Either.getOrThrow(parseDuration("5m"))), 300_000)
    assert.deepStrictEqual(Either.getOrThrow(parseDatabase("file:/tmp/x.db", "d")), { _tag: "Sqlite", filename: "/tmp/x.db" })
    assert.deepStrictEqual(Either.getOrThrow(parseDatabase(undefined, "d")), { _tag: "Sqlite", filename: path.join("d", "chatapi.db") })
    assert.strictEqual(Either.getOrThrow(parseDatabase("postgres://u@h/db", "d"))._tag, "Postgres")
  })
})

