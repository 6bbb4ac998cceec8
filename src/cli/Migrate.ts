import { Command } from "@effect/cli"
import { Console, Effect, Layer } from "effect"
import { AppConfig } from "../AppConfig.js"
import { migrate as applyPending } from "../db/Migrator.js"
import { SqlLive } from "../db/Sql.js"
import { CliLoggerLive } from "../Logging.js"

/** The store without the start-up migration, so that the count is this run's. */
const StoreLive = SqlLive.pipe(Layer.provide(AppConfig.Default))

export const migrate = Command.make("migrate", {}, () =>
  applyPending.pipe(
    Effect.flatMap((n) => Console.log(`applied ${n} migration(s)`)),
    Effect.provide(StoreLive),
    Effect.provide(CliLoggerLive)
  )).pipe(Command.withDescription("Apply pending migrations, print how many, and exit."))
