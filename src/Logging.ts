import { Cause, Effect, HashMap, Layer, Logger } from "effect"
import { AppConfig } from "./AppConfig.js"
import { whoOf } from "./http/RequestLog.js"

/**
 * One JSON object per line; who the request acts as (tenant_id, user_id) and the annotations
 * (room_id, seq, ...) become fields.
 */
export const jsonLogger = (write: (line: string) => void) =>
  Logger.make(({ annotations, cause, context, date, logLevel, message }) => {
    const entry: Record<string, unknown> = {
      ts: date.toISOString(),
      level: logLevel.label.toLowerCase(),
      msg: Array.isArray(message) ? message.map(String).join(" ") : String(message),
      ...whoOf(context)
    }
    for (const [key, value] of HashMap.toEntries(annotations)) entry[key] = value
    if (!Cause.isEmpty(cause)) entry.error = Cause.pretty(cause, { renderErrorCause: true })
    write(JSON.stringify(entry))
  })

const stdout = jsonLogger((line) => process.stdout.write(line + "\n"))
const stderr = jsonLogger((line) => process.stderr.write(line + "\n"))

/** JSON lines on stdout at `LOG_LEVEL`. */
export const LoggerLive = Layer.unwrapEffect(
  Effect.map(AppConfig, (c) => Layer.merge(Logger.replace(Logger.defaultLogger, stdout), Logger.minimumLogLevel(c.logLevel)))
).pipe(Layer.provide(AppConfig.Default))

/** For the command line: logs on stderr so that stdout carries only the command's output. */
export const CliLoggerLive = Layer.unwrapEffect(
  Effect.map(AppConfig, (c) => Layer.merge(Logger.replace(Logger.defaultLogger, stderr), Logger.minimumLogLevel(c.logLevel)))
).pipe(Layer.provide(AppConfig.Default))
