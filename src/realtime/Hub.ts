import { Duration, Effect, FiberMap, Queue, Schedule, type Scope } from "effect"
import { AppConfig } from "../AppConfig.js"
import { Metrics } from "../services/Metrics.js"
import { Bus, type BusSignal } from "./Bus.js"
import { held } from "./Held.js"
import { UserRegistry } from "./UserRegistry.js"
import { textFrame } from "./Wire.js"

/** One frame for a connection, written at once or queued. */
export interface Outbound {
  readonly roomId?: string | undefined
  readonly seq?: number | undefined
  readonly origin?: string | undefined
  /** A notification frame, counted as a live or a retried delivery. */
  readonly path?: "live" | "retry" | undefined
  /** Not a frame: catch this room (every followed room without `roomId`) up from the store. */
  readonly resync?: boolean | undefined
  readonly data: string
  /** `data` as a WebSocket frame, encoded once for every recipient. */
  readonly bytes?: Buffer | undefined
}

/** One open socket as the hub sees it. */
export interface Conn {
  readonly id: string
  readonly tenantId: string
  readonly userId: string
  /** Closes the socket with a close code (the hub or the server gives up on it). */
  readonly kill: (code: number) => void
  /** Per room: the seq this connection has seen up to, where live messages continue. */
  readonly since: Map<string, number>
  /** Writes the frame now if it can go out in order on a socket that keeps up, or queues it behind what waits. */
  readonly offer: (item: Outbound) => void
  /** Called by the hub's sweep: pings when due, gives up on a socket silent for too long. */
  heartbeat: (now: number) => void
}

const key = (tenantId: string, id: string) => `${tenantId}\u0000${id}`

/** Routes committed events from the bus to the sockets following each room. */
export class RealtimeHub extends Effect.Service<RealtimeHub>()("realtime/RealtimeHub", {
  dependencies: [Bus.Default, UserRegistry.Default, AppConfig.Default, Metrics.Default],
  scoped: Effect.gen(function*() {
    const bus = yield* Bus
    const registry = yield* UserRegistry
    const { heartbeatInterval, presenceGrace } = yield* AppConfig
    const metrics = yield* Metrics
    /** Users online as this instance knows it: from their first socket here until offline is told (after the grace period). */
    const announced = new Set<string>()
    const goingOffline = yield* FiberMap.make<string>()
    const byRoom = new Map<string, Set<Conn>>()
    const byUser = new Map<string, Set<Conn>>()
    /** Every socket here, flat: the heartbeat sweep walks it several times a second. */
    const sockets = new Set<Conn>()

    const add = <K, V>(map: Map<K, Set<V>>, k: K, v: V) => {
      const set = map.get(k) ?? new Set<V>()
      set.add(v)
      map.set(k, set)
    }
    const remove = <K, V>(map: Map<K, Set<V>>, k: K, v: V) => {
      const set = map.get(k)
      if (set && set.delete(v) && set.size === 0) map.delete(k)
    }

    const deliver = (conn: Conn, item: Outbound) => conn.offer(item)

    const follow = (conn: Conn, roomId: string, since: number) => {
      if (!conn.since.has(roomId)) conn.since.set(roomId, since)
      add(byRoom, key(conn.tenantId, roomId), conn)
    }
    const unfollow = (conn: Conn, roomId: string) => {
      conn.since.delete(roomId)
      remove(byRoom, key(conn.tenantId, roomId), conn)
    }

    const dispatch = (event: BusSignal) => {
      if (event._tag === "Gap") {
        for (const conn of sockets) deliver(conn, { resync: true, data: "" })
        return
      }
      if (event._tag === "Resync") {
        for (const conn of byUser.get(key(event.tenantId, event.userId)) ?? []) {
          if (conn.since.has(event.roomId)) deliver(conn, { roomId: event.roomId, resync: true, data: "" })
        }
        return
      }
      if (event._tag === "Membership") {
        for (const conn of byUser.get(key(event.tenantId, event.userId)) ?? []) {
          if (event.joined) follow(conn, event.roomId, event.since)
          else unfollow(conn, event.roomId)
        }
        return
      }
      if (event._tag === "UserFrame") {
        const item: Outbound = { data: event.data, bytes: textFrame(event.data), path: event.path }
        for (const userId of event.userIds) for (const conn of byUser.get(key(event.tenantId, userId)) ?? []) deliver(conn, item)
        return
      }
      if (event._tag === "Presence") {
        const data = JSON.stringify({ type: "presence.update", user_id: event.userId, status: event.status })
        const recipients = new Set<Conn>()
        for (const roomId of event.roomIds) {
          for (const conn of byRoom.get(key(event.tenantId, roomId)) ?? []) if (conn.userId !== event.userId) recipients.add(conn)
        }
        const item: Outbound = { data, bytes: textFrame(data) }
        for (const conn of recipients) deliver(conn, item)
        return
      }
      const conns = byRoom.get(key(event.tenantId, event.roomId))
      if (conns === undefined) return
      const item: Outbound = { roomId: event.roomId, seq: event.seq, origin: event.origin, data: event.data, bytes: textFrame(event.data) }
      for (const conn of conns) {
        if (conn.userId !== event.exceptUser) deliver(conn, item)
      }
    }

    const subscription = yield* bus.subscribe
    yield* Queue.take(subscription).pipe(
      Effect.flatMap((first) =>
        Effect.map(Queue.takeAll(subscription), (rest) => {
          dispatch(first)
          for (const event of rest) dispatch(event)
        })
      ),
      Effect.forever,
      Effect.forkScoped
    )

    // One sweep for every socket, several times per heartbeat interval, rather than a timer per socket.
    yield* Effect.sync(() => {
      const now = Date.now()
      for (const conn of sockets) conn.heartbeat(now)
    }).pipe(
      Effect.repeat(Schedule.spaced(Duration.millis(Math.max(10, Duration.toMillis(heartbeatInterval) / 8)))),
      Effect.forkScoped
    )

    const presence = (conn: Conn, status: "online" | "offline", roomIds: ReadonlyArray<string>) =>
      bus.publish({ _tag: "Presence", tenantId: conn.tenantId, userId: conn.userId, status, roomIds })

    /**
     * Registers a socket for its rooms; the finalizer in the same scope unregisters it. A user is
     * online from the first socket anywhere and offline a grace period after the last anywhere, so
     * a quick reconnect, here or to another instance, does not flap.
     */
    const register = (conn: Conn, rooms: ReadonlyMap<string, number>): Effect.Effect<void, never, Scope.Scope> => {
      const userKey = key(conn.tenantId, conn.userId)
      return held(
        Effect.gen(function*() {
          metrics.connectionOpened()
          add(byUser, userKey, conn)
          sockets.add(conn)
          for (const [roomId, since] of rooms) follow(conn, roomId, since)
          if (byUser.get(userKey)!.size > 1) return
          yield* FiberMap.remove(goingOffline, userKey)
          const known = announced.has(userKey)
          announced.add(userKey)
          const elsewhere = yield* registry.arrive(conn.tenantId, conn.userId)
          if (!known && !elsewhere) yield* presence(conn, "online", [...rooms.keys()])
        }),
        () =>
          Effect.gen(function*() {
            metrics.connectionClosed()
            const roomIds = [...conn.since.keys()]
            remove(byUser, userKey, conn)
            sockets.delete(conn)
            for (const roomId of roomIds) unfollow(conn, roomId)
            if (byUser.has(userKey)) return
            yield* registry.leave(conn.tenantId, conn.userId)
            yield* FiberMap.run(
              goingOffline,
              userKey,
              Effect.sleep(Duration.toMillis(presenceGrace)).pipe(
                Effect.zipRight(Effect.gen(function*() {
                  if (byUser.has(userKey)) return
                  const elsewhere = yield* registry.depart(conn.tenantId, conn.userId)
                  announced.delete(userKey)
                  if (!elsewhere) return yield* presence(conn, "offline", roomIds)
                  // The instance they are on tells offline in its turn, unless it died: that shows once its lease ran out.
                  yield* Effect.sleep(registry.staleAfter)
                  if (!(yield* registry.settle(conn.tenantId, conn.userId))) yield* presence(conn, "offline", roomIds)
                }))
              )
            )
          })
      )
    }

    /** Those of `userIds` with a socket on this instance or any other. */
    const online = (tenantId: string, userIds: ReadonlyArray<string>): Effect.Effect<ReadonlySet<string>> => {
      const here = new Set<string>()
      const rest: Array<string> = []
      for (const userId of userIds) {
        if (byUser.has(key(tenantId, userId))) here.add(userId)
        else rest.push(userId)
      }
      if (rest.length === 0) return Effect.succeed(here)
      return Effect.map(registry.elsewhere(tenantId, rest), (there) => {
        for (const userId of there) here.add(userId)
        return here
      })
    }

    const isOnline = (tenantId: string, userId: string) => Effect.map(online(tenantId, [userId]), (users) => users.size > 0)

    /** Asks every socket of a user, on whichever instance, to catch a room up from the store. */
    const resync = (tenantId: string, userId: string, roomId: string) => bus.publish({ _tag: "Resync", tenantId, userId, roomId })

    /** Every open socket, e.g. to tell them all the server is going away. */
    const all = () => [...sockets]

    return { register, follow, unfollow, deliver, online, isOnline, resync, all } as const
  })
}) {}
