import type { HttpApiGroup } from "@effect/platform"
import { Context, Effect, Layer } from "effect"

/**
 * Requirements that exist in types only: an HttpApi's groups. A group's layer adds its routes to
 * the API's router and provides no service, so there is nothing of it to keep.
 */
type TypeOnly = HttpApiGroup.ApiGroup<any, any>

/**
 * `layer`, built seeing only `tags` of the context around it (and the memo map, so that a layer it
 * shares with the rest of the server is still built once).
 *
 * An HTTP handler runs in the context its layer was built in merged with the request's, and the
 * platform copies that context several times per request (each middleware's service, the router,
 * the request's scope). Built in the server's whole context, every one of those copies held every
 * service (47 entries), and each request in flight kept them alive through young-generation
 * collections. The types keep this honest: `layer` may need nothing but what `tags` name (and
 * the API groups it serves, still required of the layers around).
 */
export const isolated = <const Tags extends ReadonlyArray<Context.Tag<any, any>>>(...tags: Tags) =>
<ROut, E, RIn extends Context.Tag.Identifier<Tags[number]> | TypeOnly>(
  layer: Layer.Layer<ROut, E, RIn>
): Layer.Layer<ROut, E, Context.Tag.Identifier<Tags[number]> | Extract<RIn, TypeOnly>> =>
  Layer.scopedContext(
    Effect.gen(function*() {
      const context = yield* Effect.context<Context.Tag.Identifier<Tags[number]>>()
      const memoMap = yield* Layer.CurrentMemoMap
      const scope = yield* Effect.scope
      // What `RIn` asks beyond `tags` is type-only (above): nothing of it is missing here.
      const narrow = Context.add(Context.pick(...tags)(context), Layer.CurrentMemoMap, memoMap) as Context.Context<RIn>
      // The whole context is replaced, not merged into the one around (as `Effect.provide` would).
      return yield* Effect.mapInputContext(Layer.buildWithMemoMap(layer, memoMap, scope), (_: Context.Context<never>) => narrow)
    })
  )
