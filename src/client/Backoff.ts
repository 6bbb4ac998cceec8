export interface BackoffOptions {
  /** The first delay before jitter, in ms (default 250). */
  readonly initialMs?: number | undefined
  /** The longest delay before jitter, in ms (default 5000). */
  readonly maxMs?: number | undefined
}

/**
 * The wait before reconnect attempt `attempt` (0, 1, 2, ...): exponential, capped, and jittered to
 * 50–100 % of it, so that clients dropped together do not come back together.
 */
export const reconnectDelay = (attempt: number, options: BackoffOptions = {}, random: () => number = Math.random) => {
  const initial = options.initialMs ?? 250
  const max = options.maxMs ?? 5000
  return Math.round(Math.min(max, initial * 2 ** Math.min(attempt, 30)) * (0.5 + random() / 2))
}

/** After `server.shutdown`: the server's own spread delay plus up to 250 ms. */
export const shutdownDelay = (reconnectAfterMs: number, random: () => number = Math.random) =>
  Math.max(0, Math.round(reconnectAfterMs + random() * 250))
