import { Deferred, Duration, Effect, Exit, FiberId, FiberSet, Scope } from "effect"
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
import type { WebSocket } from "ws"
import { releasedWith } from "./Held.js"
import { Serial } from "./Serial.js"
import { type Accept, corkedWriter, OPEN, PING_FRAME, textFrame, whenClosed } from "./Wire.js"

const SYNC_PAGE = 500
/** Bytes the kernel may hold for a socket before the writer waits for it to drain. */
const HIGH_WATER = 256 * 1024

/** After `server.shutdown`, how long the frames the client sent before its close (its last ack) may take to be handled. */
const CLOSING_WAIT = Duration.seconds(2)
/** Frames received and not yet handled, at most; past that the client is not waiting for answers. */
const INBOUND_FRAMES = 256

const closeReasons: Record<number, string> = {
  [CloseCodes.goingAway]: "server shutting down",
  [CloseCodes.slowConsumer]: "slow consumer",
  [CloseCodes.policy]: "policy violation"
}

export interface Session {
  readonly tenant: AuthenticatedTenant
  readonly userId: UserId
  readonly netSocket: NetSocket
  /** Writes the 101 and starts the frames flowing in. */
  readonly accept: Accept
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
    const intervalMs = Duration.toMillis(config.heartbeatInterval)
    const timeoutMs = Duration.toMillis(config.heartbeatTimeout)

    /**
     * Sets a socket up in its scope (closing the scope ends it) and returns once it is open: no fiber
     * waits on an idle socket. Once it has closed, either side, `onClosed` gets what is left to do
     * before the scope may close (the frames the client sent before a shutdown close).
     */
    const run = (session: Session, onOpen: Effect.Effect<void>, onClosed: (last: Effect.Effect<void>) => void) =>
      Effect.gen(function*() {
        const { tenant: { limits: tenantLimits, tenant }, userId } = session
        const tenantId = tenant.tenant_id as TenantId
        const { netSocket } = session
        const runFork = yield* FiberSet.makeRuntime<never>()
        const writeNow = corkedWriter(netSocket)
        // The upgrade completes (101 written) only once the socket runs: nothing goes out before that.
        let ws: WebSocket | undefined
        const opened = yield* Deferred.make<void>()
        const isOpen = () => ws !== undefined && ws.readyState === OPEN && netSocket.writable

        /** Closes the socket once, with `code`; the socket's program ends when `ws` reports it closed. */
        let closing: number | undefined
        const kill = (code: number) => {
          if (closing !== undefined) return
          closing = code
          if (ws === undefined) return // closed as soon as it opens
          if (code === CloseCodes.heartbeatTimeout) return void netSocket.destroy()
          if (code === CloseCodes.goingAway) {
            // Reconnects spread over a few seconds rather than all at once.
            const reconnectAfter = 1000 + Math.floor(Math.random() * 2000)
            if (isOpen()) writeNow(textFrame(JSON.stringify({ type: "server.shutdown", reconnect_after_ms: reconnectAfter })))
          }
          ws.close(code, closeReasons[code] ?? "policy violation")
        }

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

        /** Frames may skip the queue: the initial sync is done and nothing waits. */
        let live = false
        /** Frames that could not go out at once, in order; with none left, frames go out at once again. */
        const waiting = new Serial<Outbound>(runFork, (item) => forward(item), () => (live = true))
        // The initial sync works through them once it is done.
        const afterSync = waiting.claim()

        const conn: Conn = {
          id: crypto.randomUUID(),
          tenantId,
          userId,
          since: new Map(),
          kill,
          heartbeat: () => {},
          offer: (item) => {
            if (live && item.resync !== true && step(item) === "done") return
            // Anything that waits (a catch-up included) holds back the frames after it.
            live = false
            // A queue this long means a consumer too slow to drain it.
            if (waiting.length >= config.sendQueueFrames) return kill(CloseCodes.slowConsumer)
            waiting.push(item)
          }
        }
        const reply = (frame: Record<string, unknown>) => conn.offer({ data: JSON.stringify(frame) })

        const drained = () => Effect.async<void>((resume) => {
          if (netSocket.writableLength <= HIGH_WATER) return resume(Effect.void)
          const done = () => resume(Effect.void)
          netSocket.once("drain", done)
          netSocket.once("close", done)
          return Effect.sync(() => {
            netSocket.off("drain", done)
            netSocket.off("close", done)
          })
        })
        const send = (data: string) => Effect.zipRight(drained(), Effect.sync(() => isOpen() && writeNow(textFrame(data))))

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

        /** One waiting frame: a catch-up from the store, or a frame after its gap is filled or the socket drained. */
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
                yield* drained()
                continue
              }
              const since = conn.since.get(item.roomId!)!
              yield* catchUp("sync", item.roomId!, since, item.seq! - 1)
              // Whatever the store had, this frame comes next.
              conn.since.set(item.roomId!, Math.max(conn.since.get(item.roomId!) ?? 0, item.seq! - 1))
            }
          })

        // Register before reading the store, so nothing committed in between is missed.
        const cursors = yield* roomsRepo.cursors(tenantId, userId)
        yield* hub.register(conn, new Map(Array.from(cursors, ([roomId, { lastAck }]) => [roomId, lastAck])))
        // Joins and leaves that raced the registration: the second read is authoritative.
        const current = yield* roomsRepo.cursors(tenantId, userId)
        for (const [roomId, { lastAck }] of current) if (!cursors.has(roomId)) hub.follow(conn, roomId, lastAck)
        for (const roomId of cursors.keys()) if (!current.has(roomId)) hub.unfollow(conn, roomId)
        // Room messages first (only rooms with something after the ack: anything committed after this
        // read comes live, the socket being registered), then pending notifications, then whatever
        // came meanwhile, then live.
        const behind = Array.from(current).filter(([, { lastAck, lastSeq }]) => lastSeq > lastAck)
        runFork(Deferred.await(opened).pipe(
          Effect.zipRight(Effect.forEach(behind, ([roomId, { lastAck }]) => catchUp("sync", roomId, lastAck), { discard: true })),
          Effect.zipRight(notifications.sync(tenantId, userId, (data) => Effect.zipRight(Effect.sync(() => metrics.delivered("sync", "notification")), send(data)))),
          Effect.zipRight(afterSync)
        ))

        // Heartbeat (the hub's sweep calls it): a ping frame every interval; a socket silent for the timeout is dropped.
        let lastHeard = Date.now()
        let nextPing = lastHeard + intervalMs
        const heard = () => (lastHeard = Date.now())
        netSocket.on("data", heard)
        conn.heartbeat = (now) => {
          if (now < nextPing) return
          nextPing = now + intervalMs
          if (now - lastHeard > timeoutMs) kill(CloseCodes.heartbeatTimeout)
          // A frame of its own: written at once, without the cork and the tick that batch deliveries.
          else if (isOpen()) netSocket.write(PING_FRAME)
        }

        // Frames from the client, one at a time in order. An idle socket never sends one: what handles
        // them (the frame handler, a fiber working through them) is made with the first.
        const scope = yield* Effect.scope
        let onFrame: ((data: string | Uint8Array) => Effect.Effect<void>) | undefined
        /** Completes when the frames received so far are handled; none while no fiber is at work. */
        let reading: Deferred.Deferred<void> | undefined
        // In the socket's scope, not the reader's: a frame being handled when the socket closes is finished.
        const inbound = new Serial<string | Uint8Array>(
          runFork,
          (data) =>
            onFrame !== undefined
              ? onFrame(data)
              : Effect.flatMap(Scope.extend(clientFrames.make({ conn, tenantId, userId, limits: tenantLimits, reply }), scope), (handler) => {
                onFrame = handler
                return handler(data)
              }),
          () => {
            Deferred.unsafeDone(reading!, Exit.void)
            reading = undefined
          }
        )

        // Runs until the socket closes, whichever side closes it.
        ws = yield* session.accept((data) => {
          // Once one frame is refused, so is every later one: none is handled out of the order sent.
          if (closing === CloseCodes.policy) return
          if (inbound.length >= INBOUND_FRAMES) return kill(CloseCodes.policy)
          if (!inbound.busy) reading = Deferred.unsafeMake<void>(FiberId.none)
          inbound.push(data)
        })
        if (closing !== undefined) {
          const code = closing
          closing = undefined
          kill(code)
        }
        const socket = ws
        // The scope closed another way (the server stopping): the socket goes with it.
        yield* releasedWith(Effect.sync(() => (netSocket.off("data", heard), socket.close())))
        yield* Deferred.succeed(opened, undefined)
        yield* onOpen
        whenClosed(socket, () =>
          onClosed(
            // After server.shutdown (the socket's last frame), what the client sent before its own close, its
            // last ack, is handled before the socket's scope closes: a reconnect elsewhere syncs from there.
            Effect.suspend(() =>
              closing === CloseCodes.goingAway && reading !== undefined
                ? Effect.ignore(Effect.timeout(Deferred.await(reading), CLOSING_WAIT))
                : Effect.void
            )
          ))
      })

    return { run } as const
  })
}) {}
