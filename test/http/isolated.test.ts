import { Context, Effect, Layer, Option } from "effect"
import { describe, expect, it } from "vitest"
import { isolated } from "../../src/http/Isolated.js"

class Kept extends Context.Tag("test/Kept")<Kept, string>() {}
class Other extends Context.Tag("test/Other")<Other, string>() {}
class Seen extends Context.Tag("test/Seen")<Seen, { readonly kept: string; readonly other: Option.Option<string>; readonly size: number }>() {}
class Shared extends Context.Tag("test/Shared")<Shared, number>() {}

/** What a layer providing `Seen` saw, built with `Kept` and `Other` around it. */
const seenAround = (layer: Layer.Layer<Seen, never, Kept>) =>
  Effect.runPromise(
    Effect.scoped(Layer.build(layer.pipe(Layer.provide(Layer.succeed(Kept, "k")), Layer.provide(Layer.succeed(Other, "o")))))
      .pipe(Effect.map(Context.get(Seen)))
  )

describe("isolated", () => {
  it("builds a layer seeing only the tags named, not the rest of the context around it", async () => {
    const SeenLive = Layer.effect(
      Seen,
      Effect.gen(function*() {
        const context = yield* Effect.context<never>()
        return { kept: yield* Kept, other: yield* Effect.serviceOption(Other), size: context.unsafeMap.size }
      })
    )
    const seen = await seenAround(isolated(Kept)(SeenLive))
    expect(seen.kept).toBe("k")
    expect(Option.isNone(seen.other)).toBe(true)
    // The tag named and the memo map; not the other service, nor the scope around.
    expect(seen.size).toBe(2)
    // Without it, the layer sees everything around.
    const open = await seenAround(SeenLive)
    expect(Option.getOrNull(open.other)).toBe("o")
  })

  it("still builds a layer shared with the rest once", async () => {
    let built = 0
    const SharedLive = Layer.sync(Shared, () => ++built)
    const UsesShared = Layer.effectDiscard(Effect.asVoid(Shared))
    const both = await Effect.runPromise(
      Effect.scoped(Layer.build(Layer.mergeAll(isolated(Kept)(UsesShared.pipe(Layer.provide(SharedLive))), SharedLive).pipe(Layer.provide(Layer.succeed(Kept, "k")))))
        .pipe(Effect.map(Context.get(Shared)))
    )
    expect(both).toBe(1)
    expect(built).toBe(1)
  })
})
