import type { Socket } from "@effect/platform"
import { Socket as Sockets } from "@effect/platform"
import { Deferred, Duration, Effect, Fiber, Queue, Schedule } from "effect"
import * as crypto from "node:crypto"
import type { Socket as NetSocket } from "node:net"
import { AppConfig } from "../AppConfig.js"
import { MessagesRepo } from "../db/MessagesRepo.js"
import { RoomsRepo } from "../db/RoomsRepo.js"
import { CloseCodes } from "../domain/Frames.js"
import type { RoomId, TenantId, UserId } from "../domain/Ids.js"
import type { AuthenticatedTenant } from "../domain/Tenant.js"
import { messageFrame } from "../services/Messages.js"
import { Metrics } from "../services/Metrics.js"
import { Notifications } from "../services/Notifications.js"
import { ClientFrames } from "./ClientFrames.js"
import { type Conn, type Outbound, RealtimeHub } from "./Hub.js"

const SYNC_PAGE = 500
/** Bytes the kernel may hold for a socket before the writer waits for it to drain. */
const HIGH_WATER = 256 * 1024

/** After `server.shutdown`, how long the client has to answer the close, and its last frames to be handled. */
const CLOSING_WAIT = Duration.seconds(2)
/** Queued behind a client's last frames: every frame before it has been handled. */
const HANDLED: unique symbol = Symbol("handled")

/** An unmasked WebSocket ping with no payload; clients answer with a pong. */
const PING_FRAME = Buffer.from([0x89, 0x00])

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
        const conn: Conn = {
          id: crypto.randomUUID(),
          tenantId,
          userId,
          queue: yield* Queue.bounded<Outbound>(config.sendQueueFrames),
          kill: yield* Deferred.make<number>(),
          since: new Map()
        }
        const reply = (frame: Record<string, unknown>) => hub.deliver(conn, { data: JSON.stringify(frame) })

        const drained = Effect.async<void>((resume) => {
          if (session.netSocket.writableLength <= HIGH_WATER) return resume(Effect.void)
          const done = () => resume(Effect.void)
          session.netSocket.once("drain", done)
          session.netSocket.once("close", done)
          return Effect.sync(() => {
            session.netSocket.off("drain", done)
            session.netSocket.off("close", done)
          })
        })
        const send = (data: string) => Effect.zipRight(drained, Effect.orDie(write(data)))

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

        /** Sends live frames in per-room seq order: older seqs are skipped, a gap is filled from the store. */
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
            if (item.path !== undefined) metrics.delivered(item.path, "notification")
            if (item.seq === undefined || item.roomId === undefined) return yield* send(item.data)
            const since = conn.since.get(item.roomId)
            if (since === undefined || item.seq <= since) return
            if (item.seq > since + 1) yield* catchUp("sync", item.roomId, since, item.seq - 1)
            if (item.seq <= (conn.since.get(item.roomId) ?? 0)) return
            conn.since.set(item.roomId, item.seq)
            if (item.origin !== conn.id) {
              metrics.delivered("live", "message")
              yield* send(item.data)
            }
          })

        // Register before reading the store, so nothing committed in between is missed.
        const cursors = yield* roomsRepo.cursors(tenantId, userId)
        yield* hub.register(conn, cursors)
        // Joins and leaves that raced the registration: the second read is authoritative.
        const current = yield* roomsRepo.cursors(tenantId, userId)
        for (const [roomId, lastAck] of current) if (!cursors.has(roomId)) hub.follow(conn, roomId, lastAck)
        for (const roomId of cursors.keys()) if (!current.has(roomId)) hub.unfollow(conn, roomId)
        // Room messages first, then pending notifications, then the live stream.
        const outbound = yield* Effect.forEach(current, ([roomId, lastAck]) => catchUp("sync", roomId, lastAck), { discard: true }).pipe(
          Effect.zipRight(notifications.sync(tenantId, userId, (data) => Effect.zipRight(Effect.sync(() => metrics.delivered("sync", "notification")), send(data)))),
          Effect.zipRight(Effect.forever(Effect.flatMap(Queue.take(conn.queue), forward))),
          Effect.forkScoped
        )

        // Heartbeat: a WebSocket ping frame every interval; a socket silent for the timeout is dropped.
        let lastHeard = Date.now()
        const heard = () => (lastHeard = Date.now())
        session.netSocket.on("data", heard)
        yield* Effect.addFinalizer(() => Effect.sync(() => session.netSocket.off("data", heard)))
        yield* Effect.sync(() => {
          if (Date.now() - lastHeard > Duration.toMillis(config.heartbeatTimeout)) {
            Deferred.unsafeDone(conn.kill, Effect.succeed(CloseCodes.heartbeatTimeout))
          } else if (session.netSocket.writable) {
            session.netSocket.write(PING_FRAME)
          }
        }).pipe(Effect.repeat(Schedule.spaced(config.heartbeatInterval)), Effect.delay(config.heartbeatInterval), Effect.forkScoped)

        const onFrame = yield* clientFrames.make({ conn, tenantId, userId, limits: tenantLimits, reply })
        const inbound = yield* Queue.bounded<string | Uint8Array | typeof HANDLED>(256)
        const handled = yield* Deferred.make<void>()
        yield* Queue.take(inbound).pipe(
          Effect.flatMap((data) => (data === HANDLED ? Deferred.succeed(handled, undefined) : onFrame(data))),
          Effect.forever,
          Effect.forkScoped
        )
        let shuttingDown = false

        yield* Effect.raceFirst(
          socket.runRaw((data) => {
            if (!Queue.unsafeOffer(inbound, data)) Deferred.unsafeDone(conn.kill, Effect.succeed(CloseCodes.policy))
          }),
          Effect.flatMap(Deferred.await(conn.kill), (code) =>
            code === CloseCodes.heartbeatTimeout
              ? Effect.sync(() => session.netSocket.destroy())
              : code === CloseCodes.goingAway
              // server.shutdown is the last frame (the client acks what it has, the next instance syncs the rest);
              // reconnects spread over a few seconds rather than all at once.
              ? Effect.orDie(Effect.zipRight(
                Effect.zipRight(Fiber.interrupt(outbound), write(JSON.stringify({ type: "server.shutdown", reconnect_after_ms: 1000 + Math.floor(Math.random() * 2000) }))),
                write(new Sockets.CloseEvent(code, "server shutting down"))
              )).pipe(
                // Reading goes on until the client's own close frame, so the acks it sent before it saw ours still count.
                Effect.zipRight(Effect.sync(() => (shuttingDown = true))),
                Effect.zipRight(Effect.sleep(CLOSING_WAIT))
              )
              : Effect.orDie(write(new Sockets.CloseEvent(code, code === CloseCodes.slowConsumer ? "slow consumer" : "policy violation"))))
        ).pipe(
          // Those last frames are handled before the socket's scope closes: a reconnect elsewhere syncs from the acked cursor.
          Effect.ensuring(Effect.suspend(() =>
            shuttingDown ? Queue.offer(inbound, HANDLED).pipe(Effect.zipRight(Deferred.await(handled)), Effect.timeout(CLOSING_WAIT), Effect.ignore) : Effect.void
          ))
        )
      }).pipe(Effect.scoped)

    return { run } as const
  })
}) {}
