import type { Socket } from "@effect/platform"
import { Socket as Sockets } from "@effect/platform"
import { Deferred, Duration, Effect, Option, Queue, Schedule } from "effect"
import * as crypto from "node:crypto"
import type { Socket as NetSocket } from "node:net"
import { AppConfig } from "../AppConfig.js"
import { MessagesRepo } from "../db/MessagesRepo.js"
import { RoomsRepo } from "../db/RoomsRepo.js"
import { CloseCodes } from "../domain/Frames.js"
import type { RoomId, TenantId, UserId } from "../domain/Ids.js"
import type { AuthenticatedTenant } from "../domain/Tenant.js"
import { messageFrame } from "../domain/Message.js"
import { Metrics } from "../services/Metrics.js"
import { Notifications } from "../services/Notifications.js"
import { ClientFrames } from "./ClientFrames.js"
import { type Conn, type Outbound, RealtimeHub } from "./Hub.js"
import { corkedWriter, openCheck, PING_FRAME, textFrame } from "./Wire.js"

const SYNC_PAGE = 500
/** Bytes the kernel may hold for a socket before the writer waits for it to drain. */
const HIGH_WATER = 256 * 1024


export interface Session {
  readonly tenant: AuthenticatedTenant
  readonly userId: UserId
  readonly netSocket: NetSocket
}

/** The program of one socket: register, sync what was missed, then serve frames both ways. */
export class Connections extends Effect.Service<Connections>()("realtime/Connections", {
  dependencies: [RealtimeHub.Default, ClientFrames.Default, MessagesRepo.Default, RoomsRepo.Default, Notifications.Default, AppConfig.Default],
  effect: Effect.gen(function*() {
    const config = yield* AppConfig
    const hub = yield* RealtimeHub
    const messagesRepo = yield* MessagesRepo
    const roomsRepo = yield* RoomsRepo
    const clientFrames = yield* ClientFrames
    const notifications = yield* Notifications
    const metrics = yield* Metrics

    const run = (session: Session, socket: Socket.Socket) =>
      Effect.gen(function*() {
        const { tenant: { limits: tenantLimits, tenant }, userId } = session
        const tenantId = tenant.tenant_id as TenantId
        const write = yield* socket.writer
        const { netSocket } = session
        // The upgrade completes (101 written) only once the socket runs: nothing goes out before that.
        let isOpen = () => false
        const opened = yield* Deferred.make<void>()
        const open = Effect.suspend(() => {
          isOpen = openCheck(netSocket)
          return Deferred.succeed(opened, undefined)
        })
        const writeNow = corkedWriter(netSocket)
        /** Frames may skip the queue: the initial sync is done and nothing waits in the queue. */
        let live = false

        /**
         * Writes one frame if it can go out now, keeping per-room seq order: older seqs are
         * dropped; a gap (the store must fill it first) or a backed-up socket is left to the caller.
         */
        const step = (item: Outbound): "done" | "gap" | "full" => {
          if (!isOpen()) return "done"
          if (netSocket.writableLength > HIGH_WATER) return "full"
          if (item.seq === undefined || item.roomId === undefined) {
            if (item.path !== undefined) metrics.delivered(item.path, "notification")
            writeNow(item.bytes ?? textFrame(item.data))
            return "done"
          }
          const since = conn.since.get(item.roomId)
          if (since === undefined || item.seq <= since) return "done"
          if (item.seq > since + 1) return "gap"
          conn.since.set(item.roomId, item.seq)
          if (item.origin !== conn.id) {
            metrics.delivered("live", "message")
            writeNow(item.bytes ?? textFrame(item.data))
          }
          return "done"
        }

        const conn: Conn = {
          id: crypto.randomUUID(),
          tenantId,
          userId,
          queue: yield* Queue.bounded<Outbound>(config.sendQueueFrames),
          kill: yield* Deferred.make<number>(),
          since: new Map(),
          immediate: (item) => {
            if (!live || item.resync === true) return false
            if (step(item) === "done") return true
            live = false
            return false
          }
        }
        const reply = (frame: Record<string, unknown>) => hub.deliver(conn, { data: JSON.stringify(frame) })

        const drained = Effect.async<void>((resume) => {
          if (netSocket.writableLength <= HIGH_WATER) return resume(Effect.void)
          const done = () => resume(Effect.void)
          netSocket.once("drain", done)
          netSocket.once("close", done)
          return Effect.sync(() => {
            netSocket.off("drain", done)
            netSocket.off("close", done)
          })
        })
        const send = (data: string) => Effect.zipRight(drained, Effect.sync(() => isOpen() && writeNow(textFrame(data))))

        /** Messages of one room after `after`, up to `until` (inclusive), in seq order. */
        const catchUp = (path: "sync" | "retry", roomId: string, after: number, until?: number) =>
          Effect.gen(function*() {
            let from = after
            for (;;) {
              const page = yield* messagesRepo.page(tenantId, roomId as RoomId, {
                after: from,
                ...(until === undefined ? {} : { before: until + 1 }),
                limit: SYNC_PAGE
              })
              for (const m of page.messages) yield* send(JSON.stringify(messageFrame(m)))
              metrics.delivered(path, "message", page.messages.length)
              const last = page.messages[page.messages.length - 1]
              if (last === undefined) return
              conn.since.set(roomId, Math.max(conn.since.get(roomId) ?? 0, last.seq))
              if (!page.hasMore) return
              from = last.seq
            }
          })

        /** What could not go out at once, in queue order: catch-ups from the store, gaps filled first, waits for the socket. */
        const forward = (item: Outbound) =>
          Effect.gen(function*() {
            if (item.resync) {
              // One room for the retry worker's nudge; every room when the bus may have lost events.
              for (const roomId of item.roomId === undefined ? [...conn.since.keys()] : [item.roomId]) {
                const since = conn.since.get(roomId)
                if (since !== undefined) yield* catchUp(item.roomId === undefined ? "sync" : "retry", roomId, since)
              }
              return
            }
            for (;;) {
              const result = step(item)
              if (result === "done") return
              if (result === "full") {
                yield* drained
                continue
              }
              const since = conn.since.get(item.roomId!)!
              yield* catchUp("sync", item.roomId!, since, item.seq! - 1)
              // Whatever the store had, this frame comes next.
              conn.since.set(item.roomId!, Math.max(conn.since.get(item.roomId!) ?? 0, item.seq! - 1))
            }
          })
        /** Back to writing frames at once when nothing is left waiting. */
        const settle = Effect.sync(() => {
          if (Option.getOrElse(conn.queue.unsafeSize(), () => 0) === 0) live = true
        })

        // Register before reading the store, so nothing committed in between is missed.
        const cursors = yield* roomsRepo.cursors(tenantId, userId)
        yield* hub.register(conn, cursors)
        // Joins and leaves that raced the registration: the second read is authoritative.
        const current = yield* roomsRepo.cursors(tenantId, userId)
        for (const [roomId, lastAck] of current) if (!cursors.has(roomId)) hub.follow(conn, roomId, lastAck)
        for (const roomId of cursors.keys()) if (!current.has(roomId)) hub.unfollow(conn, roomId)
        // Room messages first, then pending notifications, then the live stream.
        yield* Deferred.await(opened).pipe(
          Effect.zipRight(Effect.forEach(current, ([roomId, lastAck]) => catchUp("sync", roomId, lastAck), { discard: true })),
          Effect.zipRight(notifications.sync(tenantId, userId, (data) => Effect.zipRight(Effect.sync(() => metrics.delivered("sync", "notification")), send(data)))),
          Effect.zipRight(settle),
          Effect.zipRight(Effect.forever(Effect.flatMap(Queue.take(conn.queue), (item) => Effect.zipRight(forward(item), settle)))),
          Effect.forkScoped
        )

        // Heartbeat: a WebSocket ping frame every interval; a socket silent for the timeout is dropped.
        let lastHeard = Date.now()
        const heard = () => (lastHeard = Date.now())
        netSocket.on("data", heard)
        yield* Effect.addFinalizer(() => Effect.sync(() => netSocket.off("data", heard)))
        yield* Effect.sync(() => {
          if (Date.now() - lastHeard > Duration.toMillis(config.heartbeatTimeout)) {
            Deferred.unsafeDone(conn.kill, Effect.succeed(CloseCodes.heartbeatTimeout))
          } else if (isOpen()) {
            writeNow(PING_FRAME)
          }
        }).pipe(Effect.repeat(Schedule.spaced(config.heartbeatInterval)), Effect.delay(config.heartbeatInterval), Effect.forkScoped)

        const onFrame = yield* clientFrames.make({ conn, tenantId, userId, limits: tenantLimits, reply })
        const inbound = yield* Queue.bounded<string | Uint8Array>(256)
        yield* Queue.take(inbound).pipe(
          Effect.flatMap(onFrame),
          Effect.forever,
          Effect.forkScoped
        )

        yield* Effect.raceFirst(
          socket.runRaw((data) => {
            if (!Queue.unsafeOffer(inbound, data)) Deferred.unsafeDone(conn.kill, Effect.succeed(CloseCodes.policy))
          }, { onOpen: open }),
          Effect.flatMap(Deferred.await(conn.kill), (code) =>
            code === CloseCodes.heartbeatTimeout
              ? Effect.sync(() => netSocket.destroy())
              : code === CloseCodes.goingAway
              // Reconnects spread over a few seconds rather than all at once.
              ? Effect.orDie(Effect.zipRight(
                write(JSON.stringify({ type: "server.shutdown", reconnect_after_ms: 1000 + Math.floor(Math.random() * 2000) })),
                write(new Sockets.CloseEvent(code, "server shutting down"))
              ))
              : Effect.orDie(write(new Sockets.CloseEvent(code, code === CloseCodes.slowConsumer ? "slow consumer" : "policy violation"))))
        )
      }).pipe(Effect.scoped)

    return { run } as const
  })
}) {}
