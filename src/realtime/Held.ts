import { Effect, Scope } from "effect"

/**
 * `Effect.acquireRelease` for what an open socket holds for its whole life. The release is added
 * to the scope as is: `Effect.acquireRelease` and `Effect.addFinalizer` also keep a copy of the
 * fiber's state at acquisition (its FiberRefs, half a kilobyte or more) to run the release with,
 * which every idle socket would carry once per finalizer.
 */
export const held = <A, E, R>(acquire: Effect.Effect<A, E, R>, release: (a: A) => Effect.Effect<void>) =>
  Effect.uninterruptible(Effect.flatMap(acquire, (a) => Effect.as(releasedWith(release(a)), a)))

/** `Effect.addFinalizer` without the copy of the fiber's state (see `held`). */
export const releasedWith = (release: Effect.Effect<void>) => Effect.flatMap(Effect.scope, (scope) => Scope.addFinalizer(scope, release))
