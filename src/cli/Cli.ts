import { CliConfig, Command, HelpDoc } from "@effect/cli"
import * as ValidationError from "@effect/cli/ValidationError"
import { NodeContext } from "@effect/platform-node"
import { Console, Effect, Layer } from "effect"
import * as fs from "node:fs"
import { backup } from "./Backup.js"
import { migrate } from "./Migrate.js"
import { serve, serveProgram } from "./Serve.js"
import { tenants } from "./Tenants.js"

export const chatapi = Command.make("chatapi", {}, () => serveProgram).pipe(
  Command.withDescription("Multitenant chat backend. With no command, runs the server."),
  Command.withSubcommands([serve, migrate, tenants, backup])
)

const config = CliConfig.make({ showBuiltIns: false, showTypes: false })

const footer = HelpDoc.p(
  "Every command takes --help; --version prints the version. Settings come from the environment " +
    "(DATA_DIR, DATABASE_DSN, LISTEN_ADDR, LOG_LEVEL, ...), as for the server."
)

const { version } = JSON.parse(fs.readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }

const cli = Command.run(chatapi, { name: "chatapi", version, footer })

const usage = HelpDoc.sequence(HelpDoc.p("usage: chatapi [COMMAND] [--help] [--version]"), Command.getHelp(chatapi, config))

/** Colours only for a terminal: piped help and errors stay plain text. */
const plainUnlessTty = <A, E, R>(program: Effect.Effect<A, E, R>) =>
  Console.consoleWith((console) => {
    const strip = (tty: boolean | undefined, args: ReadonlyArray<unknown>) =>
      tty && process.env.NO_COLOR === undefined
        ? args
        : args.map((arg) => typeof arg === "string" ? arg.replace(/\x1b\[[0-9;]*m/g, "") : arg)
    return Effect.withConsole(program, {
      ...console,
      log: (...args) => console.log(...strip(process.stdout.isTTY, args)),
      error: (...args) => console.error(...strip(process.stderr.isTTY, args))
    })
  })

/** Parses `argv` (node, script, ...) and runs the command; a command-line mistake also prints the usage. */
export const main = (argv: ReadonlyArray<string>) =>
  cli(argv).pipe(
    Effect.tapError((error) =>
      ValidationError.isValidationError(error) ? Console.error(HelpDoc.toAnsiText(usage)) : Effect.void
    ),
    plainUnlessTty,
    Effect.provide(Layer.merge(NodeContext.layer, CliConfig.layer(config)))
  )
