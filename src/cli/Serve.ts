import { Command } from "@effect/cli"
import { Layer } from "effect"
import { LoggerLive } from "../Logging.js"
import { ServerLive } from "../Server.js"

/** The server until SIGTERM/SIGINT, logging JSON lines on stdout. */
export const serveProgram = Layer.launch(ServerLive.pipe(Layer.provide(LoggerLive)))

export const serve = Command.make("serve", {}, () => serveProgram).pipe(
  Command.withDescription("Run the server (the default when no command is given).")
)
