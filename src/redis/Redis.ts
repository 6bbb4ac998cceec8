import { Data, Duration, Effect, Option, Redacted, Runtime, type Scope } from "effect"
import { Redis as IORedis, type RedisOptions } from "ioredis"
import * as crypto from "node:crypto"
import { AppConfig } from "../AppConfig.js"
import { Metrics } from "../services/Metrics.js"

/** Redis did not answer: the caller degrades to what one instance can do alone. */
export class RedisUnavailable extends Data.TaggedError("RedisUnavailable")<{ readonly cause: unknown }> {}

/** A command slower than this counts as an outage; Redis normally answers in well under a millisecond. */
const COMMAND_TIMEOUT = Duration.millis(500)
/** How long start-up waits for the first connection before going on degraded. */
const CONNECT_WAIT = Duration.seconds(3)

const options: RedisOptions = {
  // While Redis is down a command fails at once instead of queueing behind the reconnect.
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  commandTimeout: 1_000,
  connectTimeout: 2_000,
  retryStrategy: (attempt) => Math.min(attempt * 100, 1_000),
  lazyConnect: false
}

export interface RedisConnection {
  /** The command connection, shared by every seam. */
  readonly client: IORedis
  /** Every key and channel starts with it (REDIS_PREFIX). */
  readonly prefix: string
  /** This process among the instances sharing the prefix. */
  readonly instanceId: string
  /** Runs a command; down, failing or slower than the command timeout is `RedisUnavailable`. */
  readonly call: <A>(f: (client: IORedis) => Promise<A>) => Effect.Effect<A, RedisUnavailable>
  /** A dedicated connection (SUBSCRIBE takes a connection for itself), closed with the scope. */
  readonly dedicated: Effect.Effect<IORedis, never, Scope.Scope>
}

/** A Lua script run by EVALSHA, loaded with EVAL when Redis does not have it yet (NOSCRIPT). */
export const script = (lua: string) => {
  const sha = crypto.createHash("sha1").update(lua).digest("hex")
  return (client: IORedis, keys: ReadonlyArray<string>, args: ReadonlyArray<string | number>): Promise<unknown> =>
    client.evalsha(sha, keys.length, ...keys, ...args).catch((error: unknown) =>
      String((error as Error)?.message).startsWith("NOSCRIPT") ? client.eval(lua, keys.length, ...keys, ...args) : Promise.reject(error)
    )
}

/** Redis time in milliseconds inside a script, so instances with skewed clocks agree. */
export const luaNow = `local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`

/**
 * One warning per outage for one seam (`<what> unavailable: <meanwhile>`) and an info line when
 * Redis is back, with how many operations were degraded in between. Safe to call from ioredis callbacks.
 */
export const makeOutage = (what: string, meanwhile: string) =>
  Effect.map(Effect.runtime<never>(), (runtime) => {
    const fork = Runtime.runFork(runtime)
    let down = false
    let count = 0
    return {
      failed: (cause?: unknown) => {
        count++
        if (down) return
        down = true
        fork(Effect.logWarning(`${what} unavailable: ${meanwhile}`).pipe(
          Effect.annotateLogs({ component: "redis", cause: String((cause as Error)?.message ?? cause ?? "not connected") })
        ))
      },
      recovered: () => {
        if (!down) return
        down = false
        fork(Effect.logInfo(`${what} available again`).pipe(Effect.annotateLogs({ component: "redis", degraded: count })))
        count = 0
      }
    }
  })

const connect = (url: string, name: string, metrics: Metrics, overrides: RedisOptions = {}) =>
  Effect.gen(function*() {
    const outage = yield* makeOutage(`Redis connection (${name})`, "reconnecting")
    const client = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const client = new IORedis(url, { ...options, ...overrides, connectionName: `chatapi-${name}` })
        let wasReady = false
        metrics.redisConnection(name, false, false)
        client.on("error", outage.failed)
        client.on("ready", () => {
          metrics.redisConnection(name, true, wasReady)
          wasReady = true
          outage.recovered()
        })
        client.on("close", () => metrics.redisConnection(name, false, false))
        return client
      }),
      // QUIT waits for a reconnect that may never come; after a second the socket is just closed.
      (client) =>
        Effect.tryPromise(() => client.quit()).pipe(
          Effect.timeout(Duration.seconds(1)),
          Effect.ignore,
          Effect.ensuring(Effect.sync(() => client.disconnect()))
        )
    )
    return client
  })

/** The Redis connection when REDIS_URL is set; `None` keeps every seam in process. */
export class Redis extends Effect.Service<Redis>()("redis/Redis", {
  dependencies: [AppConfig.Default, Metrics.Default],
  scoped: Effect.gen(function*() {
    const config = yield* AppConfig
    const metrics = yield* Metrics
    const redisUrl = Option.filter(config.redisUrl, (url) => Redacted.value(url).trim() !== "")
    if (Option.isNone(redisUrl)) return { connection: Option.none<RedisConnection>() }
    const url = Redacted.value(redisUrl.value)
    const instanceId = crypto.randomBytes(9).toString("base64url")
    const client = yield* connect(url, "commands", metrics)
    const ready = yield* Effect.async<void>((resume) => {
      if (client.status === "ready") return resume(Effect.void)
      const done = () => resume(Effect.void)
      client.once("ready", done)
      return Effect.sync(() => client.off("ready", done))
    }).pipe(Effect.timeout(CONNECT_WAIT), Effect.option)
    if (Option.isNone(ready)) {
      yield* Effect.logWarning("Redis unreachable at start-up; serving degraded until it answers (live events stay on this instance)")
    }
    yield* Effect.logInfo("cross-instance realtime on Redis").pipe(Effect.annotateLogs({ instance_id: instanceId, prefix: config.redisPrefix }))

    const call = <A>(f: (client: IORedis) => Promise<A>) =>
      Effect.suspend(() =>
        client.status !== "ready"
          ? Effect.fail(new RedisUnavailable({ cause: client.status }))
          : Effect.tryPromise({ try: () => f(client), catch: (cause) => new RedisUnavailable({ cause }) }).pipe(
            Effect.timeoutFail({ duration: COMMAND_TIMEOUT, onTimeout: () => new RedisUnavailable({ cause: "timeout" }) })
          )
      )

    const connection: RedisConnection = {
      client,
      prefix: config.redisPrefix,
      instanceId,
      call,
      // A subscriber's commands wait for the connection rather than fail.
      dedicated: connect(url, "subscriber", metrics, { enableOfflineQueue: true, autoResubscribe: false, maxRetriesPerRequest: null })
    }
    return { connection: Option.some(connection) }
  })
}) {}
