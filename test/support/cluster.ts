import WebSocket from "ws"
import { deleteKeys, REDIS_URL, testPrefix } from "./redis.js"
import { client, createTenant, MASTER_KEY, type RunningServer, startServer, tempDir } from "./server.js"
import { waitForMatches } from "./wait.js"
import { connectWs } from "./ws.js"

export interface Cluster {
  readonly servers: Array<RunningServer>
  /** The store they share (see `storeDsn`). */
  readonly dataDir: string
  readonly prefix: string
  readonly tenant: Awaited<ReturnType<typeof createTenant>>
  /** A client of the tenant through instance `i`. */
  api(i: number): ReturnType<typeof client>
  /** A socket of `user` on instance `i`. */
  ws(i: number, user: string): ReturnType<typeof connectWs>
  /** Stops every instance still running and deletes the prefix's keys. */
  stop(): Promise<void>
}

/**
 * `n` server processes on one store (the same data directory: one SQLite file, or one PostgreSQL
 * database with CHATAPI_TEST_STORE=postgres) and one Redis under a key prefix of their own.
 */
export const startCluster = async (
  n: number,
  options: { env?: Record<string, string>; redisUrl?: string; tenantConfig?: Record<string, unknown> } = {}
): Promise<Cluster> => {
  const prefix = testPrefix()
  const redisUrl = options.redisUrl ?? REDIS_URL
  const dataDir = tempDir()
  const env = { REDIS_URL: redisUrl, REDIS_PREFIX: prefix, ...options.env }
  const servers: Array<RunningServer> = []
  // One after the other: the first one migrates the shared store.
  for (let i = 0; i < n; i++) servers.push(await startServer({ dataDir, env }))
  const tenant = await createTenant(servers[0]!.url, "cluster", options.tenantConfig)
  return {
    servers,
    dataDir,
    prefix,
    tenant,
    api: (i) => client(servers[i]!.url, tenant.apiKey),
    ws: (i, user) => connectWs(servers[i]!.url, { headers: { "x-api-key": tenant.apiKey, "x-user-id": user } }),
    stop: async () => {
      await Promise.all(servers.map((s) => s.stop()))
      await deleteKeys(prefix, redisUrl).catch(() => undefined)
    }
  }
}

/** One counter of a server's /metrics, summed over the series whose labels include `labels`. */
export const metric = async (server: RunningServer, name: string, labels: Record<string, string> = {}) => {
  const text = await (await fetch(`${server.url}/metrics`, { headers: { "x-master-key": MASTER_KEY } })).text()
  let sum = 0
  for (const line of text.split("\n")) {
    const match = /^(\w+)(?:\{([^}]*)\})? (\S+)$/.exec(line)
    if (match?.[1] !== name) continue
    const have = Object.fromEntries((match[2] ?? "").split(",").filter(Boolean).map((kv) => {
      const [k, v] = kv.split("=")
      return [k!, JSON.parse(v!) as string]
    }))
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(match[3])
  }
  return sum
}

/**
 * A member as a robust client behaves (docs/websocket.md, "Reconnecting"): it acks the highest seq
 * of `roomId` it has every 100 ms, and at once on `server.shutdown`; when its socket closes it waits
 * `reconnect_after_ms` after a `server.shutdown` (250 ms otherwise), then connects to the instance
 * `hop` further along `urls`, or the next one that takes it. Frames are kept as received, never
 * deduplicated, so a duplicate shows.
 */
export const roamingMember = (urls: ReadonlyArray<string>, start: number, hop: number, apiKey: string, user: string, roomId: string) => {
  const messages: Array<{ seq: number; message_id: string; via: number }> = []
  const visits: Array<{ via: number; shutdown?: number; close?: number; afterShutdown: number }> = []
  let stopped = false
  let current: WebSocket | undefined
  const waiters = new Set<() => void>()
  let highest = 0
  let acked = 0
  const ack = () => {
    if (highest <= acked || current?.readyState !== WebSocket.OPEN) return
    current.send(JSON.stringify({ type: "ack", room_id: roomId, seq: highest }))
    acked = highest
  }
  const acking = setInterval(ack, 100)

  const open = (i: number, attempt = 0): void => {
    if (stopped) return
    const via = i % urls.length
    const socket = new WebSocket(`${urls[via]!.replace(/^http/, "ws")}/ws`, { headers: { "x-api-key": apiKey, "x-user-id": user } })
    const visit: (typeof visits)[number] = { via, afterShutdown: 0 }
    let opened = false
    socket.on("open", () => {
      opened = true
      current = socket
      acked = 0
      visits.push(visit)
    })
    socket.on("message", (data) => {
      const f = JSON.parse(String(data))
      if (f.type === "server.shutdown") {
        visit.shutdown = f.reconnect_after_ms
        ack()
      }
      if (f.type !== "message" || f.room_id !== roomId) return
      if (visit.shutdown !== undefined) visit.afterShutdown++
      messages.push({ seq: f.seq, message_id: f.message_id, via })
      highest = Math.max(highest, f.seq)
      for (const w of waiters) w()
    })
    socket.on("error", () => undefined)
    socket.on("close", (code) => {
      if (!opened) {
        // Refused (the instance is draining or gone): the next one, soon.
        if (attempt < urls.length * 20) setTimeout(() => open(i + 1, attempt + 1), 100)
        return
      }
      visit.close = code
      setTimeout(() => open(i + hop), visit.shutdown ?? 250)
    })
  }
  open(start)

  return {
    messages,
    visits,
    /** Resolves once `count` messages arrived (duplicates included). */
    waitFor: (count: number, timeoutMs: number) =>
      waitForMatches(messages, waiters, () => true, count, timeoutMs, () => `${user}'s messages (${messages.length}); visits ${JSON.stringify(visits)}`),
    close: () => {
      stopped = true
      clearInterval(acking)
      current?.close()
    }
  }
}
