import * as ValidationError from "@effect/cli/ValidationError"
import { NodeRuntime } from "@effect/platform-node"
import { Cause, ConfigError, Console, Effect } from "effect"

const describe = (failure: unknown) =>
  ConfigError.isConfigError(failure)
    ? `invalid configuration: ${String(failure)}`
    : failure instanceof Error ? failure.message : String(failure)

/**
 * Runs a program as the process: a failure names what is wrong and exits 1; a bad variable is a
 * message, not a stack. Command-line mistakes were already printed, with the usage.
 */
export const run = <E>(program: Effect.Effect<unknown, E>) =>
  program.pipe(
    Effect.tapErrorCause((cause) => {
      const failure = Cause.squash(cause)
      return ValidationError.isValidationError(failure) ? Effect.void : Console.error(`chatapi: ${describe(failure)}`)
    }),
    NodeRuntime.runMain({ disableErrorReporting: true, disablePrettyLogger: true })
  )
