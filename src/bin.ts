#!/usr/bin/env node
import { NodeRuntime } from "@effect/platform-node"
import { Cause, ConfigError, Console, Effect, Layer, Schema } from "effect"
import { DatabaseLive, ServerLive } from "./Server.js"
import { migrate } from "./db/Migrator.js"
import { TenantConfig } from "./domain/Tenant.js"
import { CliLoggerLive, LoggerLive } from "./Logging.js"
import { Tenants } from "./services/Tenants.js"

const usage = `usage: chatapi <command>
  serve                                   run the server (the default)
  migrate                                 apply pending migrations and exit
  tenants create NAME [--config JSON]     create a tenant; prints its API key once
  tenants list                            list tenants
  tenants rotate TENANT_ID                issue a new API key; the old one stops working`

/** Start-up failures name what is wrong and exit 1; a bad variable is a message, not a stack. */
const run = <E>(program: Effect.Effect<unknown, E>) =>
  program.pipe(
    Effect.tapErrorCause((cause) => {
      const failure = Cause.squash(cause)
      const text = ConfigError.isConfigError(failure)
        ? `invalid configuration: ${String(failure)}`
        : failure instanceof Error ? failure.message : String(failure)
      return Console.error(`chatapi: ${text}`)
    }),
    NodeRuntime.runMain({ disableErrorReporting: true, disablePrettyLogger: true })
  )

export const runServer = () => run(Layer.launch(ServerLive.pipe(Layer.provide(LoggerLive))))

const print = (value: unknown) => Console.log(JSON.stringify(value, null, 2))

const withTenants = <A, E>(f: (tenants: Tenants) => Effect.Effect<A, E>) =>
  Effect.flatMap(Tenants, f).pipe(
    Effect.provide(Tenants.Default.pipe(Layer.provide(DatabaseLive))),
    Effect.provide(CliLoggerLive)
  )

const command = (args: ReadonlyArray<string>): Effect.Effect<unknown, unknown> => {
  const [name, sub, arg, ...rest] = args
  switch (name) {
    case undefined:
    case "serve":
      return Layer.launch(ServerLive.pipe(Layer.provide(LoggerLive)))
    case "migrate":
      return migrate.pipe(
        Effect.flatMap((n) => Console.log(`applied ${n} migration(s)`)),
        Effect.provide(DatabaseLive),
        Effect.provide(CliLoggerLive)
      )
    case "tenants":
      if (sub === "create" && arg) {
        const configIndex = rest.indexOf("--config")
        const raw = configIndex >= 0 ? rest[configIndex + 1] ?? "" : "{}"
        return Effect.try(() => JSON.parse(raw) as unknown).pipe(
          Effect.flatMap(Schema.decodeUnknown(TenantConfig)),
          Effect.mapError((e) => new Error(`--config: ${e instanceof Error ? e.message : String(e)}`)),
          Effect.flatMap((config) => withTenants((t) => t.create(arg, config))),
          Effect.flatMap(print)
        )
      }
      if (sub === "list") return withTenants((t) => t.list).pipe(Effect.flatMap(print))
      if (sub === "rotate" && arg) return withTenants((t) => t.rotateKey(arg)).pipe(Effect.flatMap(print))
      return Effect.fail(new Error(usage))
    case "help":
    case "--help":
      return Console.log(usage)
    default:
      return Effect.fail(new Error(usage))
  }
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith("/bin.js")) {
  run(command(process.argv.slice(2)))
}
