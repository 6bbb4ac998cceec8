import { Duration, Effect, Option, type Scope } from "effect"
import { AppConfig } from "../AppConfig.js"
import { Redis } from "../redis/Redis.js"
import { redisUserRegistry } from "../redis/RedisUserRegistry.js"
import { Bus } from "./Bus.js"
import { held } from "./Held.js"
import { socketCounts } from "./SocketCounts.js"

/**
 * Which users have sockets on other instances, for the "is this user connected" check and for
 * presence that neither repeats nor flaps across instances. The hub counts its own sockets and
 * tells the registry when a user's first arrives and last leaves; in process there is nobody else.
 */
export interface UserRegistryShape {
  /** The user's first socket here opened: were they already present on another instance (connected or in its grace period)? */
  readonly arrive: (tenantId: string, userId: string) => Effect.Effect<boolean>
  /** The user's last socket here closed: they stay present here until `depart`, one grace period later. */
  readonly leave: (tenantId: string, userId: string) => Effect.Effect<void>
  /** The grace period here is over: are they still present on another instance? */
  readonly depart: (tenantId: string, userId: string) => Effect.Effect<boolean>
  /**
   * `staleAfter` a `depart` that said yes: is someone else still to tell their offline (they are
   * present elsewhere, or an instance that held them is alive)? No means one that held them died.
   */
  readonly settle: (tenantId: string, userId: string) => Effect.Effect<boolean>
  /** Those of `userIds` with a socket on another instance. */
  readonly elsewhere: (tenantId: string, userIds: ReadonlyArray<string>) => Effect.Effect<ReadonlySet<string>>
  /** How long an instance that died without a word may still look alive. */
  readonly staleAfter: Duration.Duration
  /**
   * Takes one of the user's `max` sockets, on every instance together, until the scope closes;
   * false (nothing taken) when they are all in use. A dead instance's sockets stop counting with its lease.
   */
  readonly claimSocket: (tenantId: string, userId: string, max: number) => Effect.Effect<boolean, never, Scope.Scope>
}

const nobody: ReadonlySet<string> = new Set()

/** One instance: nobody is anywhere else. */
export const memoryUserRegistry = (): UserRegistryShape => {
  const sockets = socketCounts()
  return {
    arrive: () => Effect.succeed(false),
    leave: () => Effect.void,
    depart: () => Effect.succeed(false),
    settle: () => Effect.succeed(false),
    elsewhere: () => Effect.succeed(nobody),
    staleAfter: Duration.zero,
    claimSocket: (tenantId, userId, max) => {
      const key = `${tenantId}/${userId}`
      return held(
        Effect.sync(() => sockets.take(key, max) !== undefined),
        (taken) => Effect.sync(() => taken && sockets.give(key))
      )
    }
  }
}

export class UserRegistry extends Effect.Service<UserRegistry>()("realtime/UserRegistry", {
  dependencies: [Redis.Default, AppConfig.Default, Bus.Default],
  scoped: Effect.flatMap(Redis, ({ connection }): Effect.Effect<UserRegistryShape, never, Scope.Scope | AppConfig | Bus> =>
    Option.match(connection, { onNone: () => Effect.sync(memoryUserRegistry), onSome: redisUserRegistry }))
}) {}
