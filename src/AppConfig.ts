import { Config, ConfigError, Duration, Effect, Either, LogLevel, Option, Redacted } from "effect"
import * as path from "node:path"

export type Database =
  | { readonly _tag: "Sqlite"; readonly filename: string }
  | { readonly _tag: "Postgres"; readonly url: Redacted.Redacted }

const invalid = (name: string, message: string) => ConfigError.InvalidData([name], message)

/** `:8080`, `8080`, `127.0.0.1:0` or `[::1]:8080`. */
export const parseListenAddr = (value: string) => {
  const match = /^(?:(\[[^\]]+\]|[^:]*):)?(\d{1,5})$/.exec(value.trim())
  const port = match ? Number(match[2]) : NaN
  if (!match || port > 65535) return Either.left("expected [host]:port, for example :8080")
  const host = match[1]?.replace(/^\[|\]$/g, "")
  return Either.right({ host: host === "" ? undefined : host, port })
}

/** `500ms`, `3s`, `5m`, `1h`. */
export const parseDuration = (value: string) => {
  const match = /^(\d+)(ms|s|m|h)$/.exec(value.trim())
  if (!match) return Either.left("expected a duration such as 500ms, 3s or 5m")
  const n = Number(match[1])
  const unit = match[2] as "ms" | "s" | "m" | "h"
  return Either.right(
    unit === "ms" ? Duration.millis(n) : unit === "s" ? Duration.seconds(n) : unit === "m" ? Duration.minutes(n) : Duration.hours(n)
  )
}

export const parseDatabase = (dsn: string | undefined, dataDir: string) => {
  if (dsn === undefined || dsn.trim() === "") {
    return Either.right<Database>({ _tag: "Sqlite", filename: path.join(dataDir, "chatapi.db") })
  }
  if (/^postgres(ql)?:\/\//.test(dsn)) return Either.right<Database>({ _tag: "Postgres", url: Redacted.make(dsn) })
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(dsn) && !dsn.startsWith("file:")) {
    return Either.left("expected a SQLite file path, a file: URL or a postgres:// URL")
  }
  const filename = dsn.startsWith("file:") ? decodeURIComponent(dsn.slice(5).replace(/^\/\/(?=\/)/, "").split("?")[0]!) : dsn
  return filename === "" ? Either.left("the SQLite file name is empty") : Either.right<Database>({ _tag: "Sqlite", filename })
}

const parsed = <A>(name: string, fallback: string, parse: (s: string) => Either.Either<A, string>) =>
  Config.string(name).pipe(
    Config.withDefault(fallback),
    Config.mapOrFail((s) => Either.mapLeft(parse(s), (message) => invalid(name, `${name}=${JSON.stringify(s)}: ${message}`)))
  )

const boundedInt = (name: string, max: number) =>
  Config.integer(name).pipe(
    Config.validate({ message: `${name} must be an integer between 1 and ${max}`, validation: (n) => n >= 1 && n <= max })
  )

const positiveInt = (name: string, fallback: number, max = Number.MAX_SAFE_INTEGER) =>
  boundedInt(name, max).pipe(Config.withDefault(fallback))

const logLevels: Record<string, LogLevel.LogLevel> = {
  trace: LogLevel.Trace, debug: LogLevel.Debug, info: LogLevel.Info, warn: LogLevel.Warning,
  warning: LogLevel.Warning, error: LogLevel.Error, fatal: LogLevel.Fatal, none: LogLevel.None
}

const duration = (name: string, fallback: string) => parsed(name, fallback, parseDuration)

const config = Config.all({
  listen: parsed("LISTEN_ADDR", ":8080", parseListenAddr),
  dataDir: Config.string("DATA_DIR").pipe(Config.withDefault("./data")),
  dsn: Config.option(Config.string("DATABASE_DSN")),
  redisUrl: Config.option(Config.redacted("REDIS_URL")),
  redisPrefix: Config.string("REDIS_PREFIX").pipe(
    Config.withDefault("chatapi:"),
    Config.validate({ message: "REDIS_PREFIX must be 1-64 characters without spaces", validation: (s) => /^\S{1,64}$/.test(s) })
  ),
  logLevel: parsed("LOG_LEVEL", "info", (s) =>
    s.toLowerCase() in logLevels ? Either.right(logLevels[s.toLowerCase()]!) : Either.left(`expected one of ${Object.keys(logLevels).join(", ")}`)
  ),
  defaultRateLimit: positiveInt("DEFAULT_RATE_LIMIT", 100, 1_000_000),
  defaultBurst: Config.option(boundedInt("DEFAULT_BURST", 10_000_000)),
  masterKey: Config.option(Config.redacted("MASTER_API_KEY")),
  maxBodyBytes: positiveInt("MAX_BODY_BYTES", 1_048_576),
  maxMessageBytes: positiveInt("MAX_MESSAGE_BYTES", 16_384, 1_048_576),
  workerInterval: duration("WORKER_INTERVAL", "1s"),
  retryMaxAttempts: positiveInt("RETRY_MAX_ATTEMPTS", 10, 1000),
  retryInterval: duration("RETRY_INTERVAL", "5s"),
  shutdownDrainTimeout: duration("SHUTDOWN_DRAIN_TIMEOUT", "10s"),
  walAutocheckpoint: positiveInt("WAL_AUTOCHECKPOINT", 1000),
  presenceGrace: duration("PRESENCE_GRACE", "5s"),
  webhookAllowPrivate: Config.boolean("WEBHOOK_ALLOW_PRIVATE").pipe(Config.withDefault(false)),
  webhookTimeout: duration("WEBHOOK_TIMEOUT", "5s"),
  tokenSecret: Config.option(Config.redacted("TOKEN_SECRET")),
  metricsToken: Config.option(Config.redacted("METRICS_TOKEN")),
  walCheckpointInterval: duration("WAL_CHECKPOINT_INTERVAL", "5m"),
  maxConnectionsPerUser: positiveInt("MAX_CONNECTIONS_PER_USER", 20, 10_000),
  maxFrameBytes: positiveInt("MAX_FRAME_BYTES", 65_536, 16_777_216),
  sendQueueFrames: positiveInt("WS_SEND_QUEUE", 1024, 1_000_000),
  heartbeatInterval: duration("HEARTBEAT_INTERVAL", "30s"),
  heartbeatTimeout: duration("HEARTBEAT_TIMEOUT", "60s"),
  typingTimeout: duration("TYPING_TIMEOUT", "5s"),
  demo: Config.boolean("DEMO").pipe(Config.withDefault(false))
})

/** Every environment variable, read once and validated. */
export class AppConfig extends Effect.Service<AppConfig>()("AppConfig", {
  effect: Effect.gen(function*() {
    const c = yield* config
    const database = yield* Either.match(parseDatabase(Option.getOrUndefined(c.dsn), c.dataDir), {
      onLeft: (message) => Effect.fail(invalid("DATABASE_DSN", `DATABASE_DSN: ${message}`)),
      onRight: Effect.succeed
    })
    const masterKey = Option.filter(c.masterKey, (key) => Redacted.value(key).length > 0)
    const metricsToken = Option.filter(c.metricsToken, (key) => Redacted.value(key).length > 0)
    return {
      ...c,
      masterKey,
      metricsToken,
      database,
      defaultBurst: Option.getOrElse(c.defaultBurst, () => c.defaultRateLimit * 2)
    }
  })
}) {}
