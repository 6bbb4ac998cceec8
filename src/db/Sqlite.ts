import * as Reactivity from "@effect/experimental/Reactivity"
import { SqlClient, SqlError, Statement } from "@effect/sql"
import type { Connection } from "@effect/sql/SqlConnection"
import Database from "better-sqlite3"
import { Context, Effect, Layer, Scope } from "effect"

/**
 * The one SQLite connection, for code that runs several statements synchronously in one go (the
 * sequencer's group commit). `run` holds the connection the same way a transaction does, so it
 * never interleaves with one; `f` must not yield.
 */
export class SqliteDirect extends Context.Tag("db/SqliteDirect")<SqliteDirect, {
  readonly run: <A>(f: (db: Database.Database) => A) => Effect.Effect<A, SqlError.SqlError>
}>() {}

/** Prepared statements by SQL text, the least recently used dropped past `capacity`. */
const statementCache = (db: Database.Database, capacity: number) => {
  const cache = new Map<string, Database.Statement>()
  return (sql: string) => {
    const found = cache.get(sql)
    if (found !== undefined) {
      cache.delete(sql)
      cache.set(sql, found)
      return found
    }
    const statement = db.prepare(sql)
    cache.set(sql, statement)
    if (cache.size > capacity) cache.delete(cache.keys().next().value!)
    return statement
  }
}

const failure = (cause: unknown, message: string) => new SqlError.SqlError({ cause, message })

/**
 * The SQL client on better-sqlite3, as `@effect/sql-sqlite-node` builds it, with two changes: a
 * plain map as the statement cache (a lookup is a map read, not an effect), and the connection
 * handed to `SqliteDirect` under the same lock as transactions.
 */
const make = (options: { readonly filename: string; readonly prepareCacheSize: number }) =>
  Effect.gen(function*() {
    const db = new Database(options.filename)
    yield* Effect.addFinalizer(() => Effect.sync(() => db.close()))
    db.pragma("journal_mode = WAL")
    const prepare = statementCache(db, options.prepareCacheSize)

    const execute = (sql: string, params: ReadonlyArray<unknown>, raw: boolean): Effect.Effect<any, SqlError.SqlError> =>
      Effect.try({
        try: () => {
          const statement = prepare(sql)
          if (statement.reader) return statement.all(...params)
          const result = statement.run(...params)
          return raw ? result : []
        },
        catch: (cause) => failure(cause, "Failed to execute statement")
      })

    const connection: Connection = {
      execute: (sql, params, transformRows) =>
        transformRows ? Effect.map(execute(sql, params, false), (rows) => transformRows(rows as Array<object>)) : execute(sql, params, false),
      executeRaw: (sql, params) => execute(sql, params, true),
      executeValues: (sql, params) =>
        Effect.try({
          try: () => {
            const statement = prepare(sql)
            if (!statement.reader) return (statement.run(...params), [])
            try {
              return statement.raw(true).all(...params) as Array<Array<unknown>>
            } finally {
              statement.raw(false)
            }
          },
          catch: (cause) => failure(cause, "Failed to execute statement")
        }),
      executeUnprepared: (sql, params, transformRows) => {
        const effect = Effect.try({
          try: () => {
            const statement = db.prepare(sql)
            return statement.reader ? statement.all(...(params ?? [])) : (statement.run(...(params ?? [])), [])
          },
          catch: (cause) => failure(cause, "Failed to execute statement")
        })
        return transformRows ? Effect.map(effect, (rows) => transformRows(rows as Array<object>)) : effect
      },
      executeStream: () => Effect.dieMessage("executeStream not implemented") as never
    }

    const semaphore = yield* Effect.makeSemaphore(1)
    const acquirer = semaphore.withPermits(1)(Effect.succeed(connection))
    const transactionAcquirer = Effect.uninterruptibleMask((restore) =>
      Effect.as(
        Effect.zipRight(
          restore(semaphore.take(1)),
          Effect.tap(Effect.scope, (scope) => Scope.addFinalizer(scope, semaphore.release(1)))
        ),
        connection
      )
    )
    const client = yield* SqlClient.make({
      acquirer,
      compiler: Statement.makeCompilerSqlite(),
      transactionAcquirer,
      spanAttributes: [["db.system.name", "sqlite"]]
    })
    const direct = SqliteDirect.of({
      run: (f) =>
        semaphore.withPermits(1)(Effect.try({ try: () => f(db), catch: (cause) => failure(cause, "Failed to run statements") }))
    })
    return Context.make(SqlClient.SqlClient, client).pipe(Context.add(SqliteDirect, direct))
  })

export const layer = (options: { readonly filename: string; readonly prepareCacheSize: number }) =>
  Layer.scopedContext(make(options)).pipe(Layer.provide(Reactivity.layer))
