import { Deferred, Duration, Effect, FiberMap, Queue, type Scope } from "effect"
import { AppConfig } from "../AppConfig.js"
import { Metrics } from "../services/Metrics.js"
import { CloseCodes } from "../domain/Frames.js"
import { Bus, type BusEvent } from "./Bus.js"

/** One frame waiting in a connection's bounded outbound queue. */
export interface Outbound {
  readonly roomId?: string | undefined
  readonly seq?: number | undefined
  readonly origin?: string | undefined
  /** A notification frame, counted as a live or a retried delivery. */
  readonly path?: "live" | "retry" | undefined
  /** Not a frame: catch this room up from the store (the retry worker's nudge). */
  readonly resync?: boolean | undefined
  readonly data: string
}

/** One open socket as the hub sees it. */
export interface Conn {
  readonly id: string
  readonly tenantId: string
  readonly userId: string
  readonly queue: Queue.Queue<Outbound>
  /** Completed with a close code when the hub gives up on the socket. */
  readonly kill: Deferred.Deferred<number>
  /** Per room: the seq this connection has seen up to, where live messages continue. */
  readonly since: Map<string, number>
}

const key = (tenantId: string, id: string) => `${tenantId}\u0000${id}`

/** Routes committed events from the bus to the sockets following each room. */
export class RealtimeHub extends Effect.Service<RealtimeHub>()("realtime/RealtimeHub", {
  dependencies: [Bus.Default, AppConfig.Default, Metrics.Default],
  scoped: Effect.gen(function*() {
    const bus = yield* Bus
    const { presenceGrace } = yield* AppConfig
    const metrics = yield* Metrics
    const online = new Set<string>()
    const goingOffline = yield* FiberMap.make<string>()
    const byRoom = new Map<string, Set<Conn>>()
    const byUser = new Map<string, Set<Conn>>()

    const add = <K, V>(map: Map<K, Set<V>>, k: K, v: V) => {
      const set = map.get(k) ?? new Set<V>()
      set.add(v)
      map.set(k, set)
    }
    const remove = <K, V>(map: Map<K, Set<V>>, k: K, v: V) => {
      const set = map.get(k)
      if (set && set.delete(v) && set.size === 0) map.delete(k)
    }

    /** Offers a frame; a full queue means a consumer too slow to drain it. */
    const deliver = (conn: Conn, item: Outbound) => {
      if (!Queue.unsafeOffer(conn.queue, item)) Deferred.unsafeDone(conn.kill, Effect.succeed(CloseCodes.slowConsumer))
    }

    const follow = (conn: Conn, roomId: string, since: number) => {
      if (!conn.since.has(roomId)) conn.since.set(roomId, since)
      add(byRoom, key(conn.tenantId, roomId), conn)
    }
    const unfollow = (conn: Conn, roomId: string) => {
      conn.since.delete(roomId)
      remove(byRoom, key(conn.tenantId, roomId), conn)
    }

    const dispatch = (event: BusEvent) => {
      if (event._tag === "Membership") {
        for (const conn of byUser.get(key(event.tenantId, event.userId)) ?? []) {
          if (event.joined) follow(conn, event.roomId, event.since)
          else unfollow(conn, event.roomId)
        }
        return
      }
      if (event._tag === "UserFrame") {
        const item: Outbound = { data: event.data, path: event.path }
        for (const userId of event.userIds) for (const conn of byUser.get(key(event.tenantId, userId)) ?? []) deliver(conn, item)
        return
      }
      if (event._tag === "Presence") {
        const data = JSON.stringify({ type: "presence.update", user_id: event.userId, status: event.status })
        const recipients = new Set<Conn>()
        for (const roomId of event.roomIds) {
          for (const conn of byRoom.get(key(event.tenantId, roomId)) ?? []) if (conn.userId !== event.userId) recipients.add(conn)
        }
        for (const conn of recipients) deliver(conn, { data })
        return
      }
      const item: Outbound = { roomId: event.roomId, seq: event.seq, origin: event.origin, data: event.data }
      for (const conn of byRoom.get(key(event.tenantId, event.roomId)) ?? []) {
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

    const presence = (conn: Conn, status: "online" | "offline", roomIds: ReadonlyArray<string>) =>
      bus.publish({ _tag: "Presence", tenantId: conn.tenantId, userId: conn.userId, status, roomIds })

    /**
     * Registers a socket for its rooms; the finalizer in the same scope unregisters it. A user is
     * online from the first socket and offline a grace period after the last, so a quick
     * reconnect does not flap.
     */
    const register = (conn: Conn, rooms: ReadonlyMap<string, number>): Effect.Effect<void, never, Scope.Scope> => {
      const userKey = key(conn.tenantId, conn.userId)
      return Effect.acquireRelease(
        Effect.gen(function*() {
          metrics.connectionOpened()
          add(byUser, userKey, conn)
          for (const [roomId, since] of rooms) follow(conn, roomId, since)
          yield* FiberMap.remove(goingOffline, userKey)
          if (!online.has(userKey)) {
            online.add(userKey)
            yield* presence(conn, "online", [...rooms.keys()])
          }
        }),
        () =>
          Effect.gen(function*() {
            metrics.connectionClosed()
            const roomIds = [...conn.since.keys()]
            remove(byUser, userKey, conn)
            for (const roomId of roomIds) unfollow(conn, roomId)
            if (byUser.has(userKey)) return
            yield* FiberMap.run(
              goingOffline,
              userKey,
              Effect.sleep(Duration.toMillis(presenceGrace)).pipe(
                Effect.zipRight(Effect.suspend(() => {
                  if (byUser.has(userKey)) return Effect.void
                  online.delete(userKey)
                  return presence(conn, "offline", roomIds)
                }))
              )
            )
          })
      )
    }

    const connections = (tenantId: string, userId: string) => byUser.get(key(tenantId, userId))?.size ?? 0

    /** Asks every socket of a user to catch a room up from the store. */
    const resync = (tenantId: string, userId: string, roomId: string) => {
      for (const conn of byUser.get(key(tenantId, userId)) ?? []) {
        if (conn.since.has(roomId)) deliver(conn, { roomId, resync: true, data: "" })
      }
    }

    /** Every open socket, e.g. to tell them all the server is going away. */
    const all = () => [...byUser.values()].flatMap((set) => [...set])

    return { register, follow, unfollow, deliver, connections, resync, all } as const
  })
}) {}
