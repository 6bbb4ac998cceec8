/** Sockets per user on this instance. */
export const socketCounts = () => {
  const counts = new Map<string, number>()
  return {
    /** One more for `key` unless that makes more than `max`: the new count, or undefined. */
    take: (key: string, max: number) => {
      const n = (counts.get(key) ?? 0) + 1
      if (n > max) return undefined
      counts.set(key, n)
      return n
    },
    /** One fewer for `key`: the count left. */
    give: (key: string) => {
      const n = (counts.get(key) ?? 1) - 1
      if (n > 0) counts.set(key, n)
      else counts.delete(key)
      return n
    },
    entries: () => counts.entries()
  }
}
