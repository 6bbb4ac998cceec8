/**
 * Resolves with the items matching `match` once there are `count` of them, re-checked whenever a
 * waiter in `waiters` is called (on every new item); rejects after `timeoutMs` with `describe()`.
 */
export const waitForMatches = <T>(
  items: ReadonlyArray<T>,
  waiters: Set<() => void>,
  match: (item: T) => boolean,
  count: number,
  timeoutMs: number,
  describe: () => string
) =>
  new Promise<Array<T>>((resolve, reject) => {
    const check = () => {
      const found = items.filter(match)
      if (found.length >= count) {
        waiters.delete(check)
        clearTimeout(timer)
        resolve(found)
      }
    }
    const timer = setTimeout(() => {
      waiters.delete(check)
      reject(new Error(`timed out waiting for ${count}: ${describe()}`))
    }, timeoutMs)
    waiters.add(check)
    check()
  })
