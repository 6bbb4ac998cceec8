import { Effect } from "effect"
import * as fs from "node:fs"
import * as client from "prom-client"
import { AppConfig } from "../AppConfig.js"

/**
 * Routes of the contract, from their templates, so a label never carries an id. Templates are
 * grouped by their number of segments and compared segment by segment (a literal, or `:param` for
 * any non-empty segment), in the order given.
 */
export const routeMatcher = (templates: ReadonlyArray<string>) => {
  const bySegments = new Map<number, Array<{ readonly template: string; readonly segments: ReadonlyArray<string | null> }>>()
  for (const template of templates) {
    const segments = template.split("/").map((s) => (s.startsWith(":") ? null : s))
    const group = bySegments.get(segments.length) ?? []
    group.push({ template, segments })
    bySegments.set(segments.length, group)
  }
  return (path: string) => {
    const parts = path.split("/")
    const candidates = bySegments.get(parts.length)
    if (candidates !== undefined) {
      for (const { segments, template } of candidates) {
        if (segments.every((s, i) => (s === null ? parts[i] !== "" : s === parts[i]))) return template
      }
    }
    return "unmatched"
  }
}

/**
 * Prometheus metrics on a registry of the server's own. Labels are bounded sets (route templates,
 * statuses, kinds); no tenant id, key or secret is ever a label.
 */
export class Metrics extends Effect.Service<Metrics>()("services/Metrics", {
  dependencies: [AppConfig.Default],
  effect: Effect.gen(function*() {
    const config = yield* AppConfig
    const registry = new client.Registry()
    client.collectDefaultMetrics({ register: registry, prefix: "chatapi_" })
    const registers = [registry]

    const connections = new client.Gauge({ name: "chatapi_ws_connections", help: "Open WebSocket connections", registers })
    /**
     * A counter bumped on the hot path (per message stored, per frame written): each label set is a
     * slot made once, counted in a plain number and handed to prom-client when scraped, as its
     * increment hashes the labels every time.
     */
    const hotCounter = <L extends string>(options: { readonly name: string; readonly help: string; readonly labelNames: ReadonlyArray<L> }) => {
      const slots: Array<{ readonly labels: Record<L, string>; n: number }> = []
      new client.Counter({
        ...options,
        registers,
        collect() {
          for (const slot of slots) {
            if (slot.n > 0) this.inc(slot.labels, slot.n)
            slot.n = 0
          }
        }
      })
      return (labels: Record<L, string>) => {
        const slot = { labels, n: 0 }
        slots.push(slot)
        return slot
      }
    }
    const messages = hotCounter({ name: "chatapi_messages_sent_total", help: "Messages stored", labelNames: ["transport"] })
    const messagesBy = { rest: messages({ transport: "rest" }), ws: messages({ transport: "ws" }) }
    const deliveries = hotCounter({
      name: "chatapi_deliveries_total",
      help: "Message and notification frames written to sockets, by path: live, sync (on connect) or retry",
      labelNames: ["path", "kind"]
    })
    const deliveriesOf = (path: string) => ({ message: deliveries({ path, kind: "message" }), notification: deliveries({ path, kind: "notification" }) })
    const deliveriesBy = { live: deliveriesOf("live"), sync: deliveriesOf("sync"), retry: deliveriesOf("retry") }
    const retries = new client.Counter({ name: "chatapi_retry_attempts_total", help: "Re-deliveries by the retry worker", labelNames: ["kind"], registers })
    const deadLetters = new client.Counter({ name: "chatapi_dead_letters_total", help: "Deliveries given up on", labelNames: ["kind"], registers })
    const webhooks = new client.Counter({ name: "chatapi_webhook_calls_total", help: "Webhook calls by outcome", labelNames: ["event", "outcome"], registers })
    const rateLimited = new client.Counter({ name: "chatapi_rate_limited_total", help: "Requests and frames refused by the rate limiter", labelNames: ["transport"], registers })
    const requests = new client.Histogram({
      name: "chatapi_http_request_duration_seconds",
      help: "HTTP request latency by route template and status",
      labelNames: ["method", "route", "status"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers
    })
    const busDropped = new client.Counter({
      name: "chatapi_bus_events_dropped_total",
      help: "Bus events other instances did not get live (sockets catch up from the store): not published while Redis was down, or arrived faster than this instance took them",
      labelNames: ["reason"],
      registers
    })
    const groupCommits = new client.Histogram({
      name: "chatapi_sqlite_group_commit_messages",
      help: "Messages stored per SQLite transaction by the group commit (_count: commits, _sum: messages)",
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
      registers
    })
    const redisReconnects = new client.Counter({ name: "chatapi_redis_reconnects_total", help: "Redis connections ready again after a loss", labelNames: ["connection"], registers })
    const redisConnected = new client.Gauge({ name: "chatapi_redis_connected", help: "1 while a Redis connection is ready", labelNames: ["connection"], registers })
    const db = config.database
    new client.Gauge({
      name: "chatapi_sqlite_wal_bytes",
      help: "Size of the SQLite write-ahead log",
      registers,
      collect() {
        if (db._tag !== "Sqlite") return
        try {
          this.set(fs.statSync(`${db.filename}-wal`).size)
        } catch {
          this.set(0)
        }
      }
    })


    // One child per label set of the request histogram, looked up once: the sets are few and fixed.
    const requestHistograms = new Map<string, client.Histogram.Internal<string>>()

    return {
      contentType: registry.contentType,
      render: Effect.promise(() => registry.metrics()),
      connectionOpened: () => connections.inc(),
      connectionClosed: () => connections.dec(),
      messageSent: (transport: "rest" | "ws") => void messagesBy[transport].n++,
      delivered: (path: "live" | "sync" | "retry", kind: "message" | "notification", n = 1) => void (deliveriesBy[path][kind].n += n),
      retried: (kind: "message" | "notification") => retries.inc({ kind }),
      deadLettered: (kind: "message" | "notification" | "webhook") => deadLetters.inc({ kind }),
      webhookCall: (event: string, outcome: "delivered" | "failed" | "dead_lettered") => webhooks.inc({ event, outcome }),
      rateLimited: (transport: "rest" | "ws") => rateLimited.inc({ transport }),
      busDropped: (reason: "redis_unavailable" | "inbox_full") => busDropped.inc({ reason }),
      groupCommit: (messages: number) => groupCommits.observe(messages),
      redisConnection: (connection: string, ready: boolean, reconnected: boolean) => {
        redisConnected.set({ connection }, ready ? 1 : 0)
        if (reconnected) redisReconnects.inc({ connection })
      },
      request: (method: string, route: string, status: number, seconds: number) => {
        const k = `${method} ${route} ${status}`
        let child = requestHistograms.get(k)
        if (child === undefined) requestHistograms.set(k, child = requests.labels(method, route, String(status)))
        child.observe(seconds)
      }
    } as const
  })
}) {}
