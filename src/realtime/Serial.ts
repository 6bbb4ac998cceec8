import { Effect } from "effect"

/**
 * Items handled one at a time, in order, from a plain array, by a fiber that exists only while the
 * array holds some: `push` forks it, and once the array is empty it ends, calling `onIdle` in the
 * same step as the check (an item pushed from then on forks a new one). An idle socket holds two of
 * these, each an empty array and no fiber (a class: its methods are not made again per socket).
 */
export class Serial<A> {
  private readonly items: Array<A> = []
  private working = false

  constructor(
    private readonly fork: (effect: Effect.Effect<void>) => unknown,
    private readonly handle: (item: A) => Effect.Effect<void>,
    private readonly onIdle: () => void
  ) {}

  /** Items waiting, the one being handled not counted. */
  get length() {
    return this.items.length
  }

  /** A fiber is working through the items. */
  get busy() {
    return this.working
  }

  push(item: A) {
    this.items.push(item)
    if (!this.working) {
      this.working = true
      this.fork(this.drain())
    }
  }

  /** Marks the items as being worked through and returns the work, for a fiber the caller runs. */
  claim() {
    this.working = true
    return this.drain()
  }

  /** Made when there is work, not held: an idle socket keeps no effect. */
  private drain(): Effect.Effect<void> {
    return Effect.suspend(() => {
      const item = this.items.shift()
      if (item === undefined) {
        this.working = false
        this.onIdle()
        return Effect.void
      }
      return Effect.zipRight(this.handle(item), this.drain())
    })
  }
}
