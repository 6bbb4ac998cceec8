import { Effect, Option, type Queue, type Scope } from "effect"
import { Redis } from "../redis/Redis.js"
import { redisBus } from "../redis/RedisBus.js"
import { Metrics } from "../services/Metrics.js"
import { memoryBus } from "./BusMemory.js"

/** An encoded server frame for the members (and subscribers) of one room. */
export interface RoomFrame {
  readonly _tag: "RoomFrame"
  readonly tenantId: string
  readonly roomId: string
  /** Set on `message` frames: receivers keep per-room order by it and never skip one. */
  readonly seq?: number | undefined
  readonly data: string
  /** Not sent to this user (typing, read receipts). */
  readonly exceptUser?: string | undefined
  /** The connection that caused it, which already got its own reply. */
  readonly origin?: string | undefined
  /** Published by another instance (set by the Redis bus on arrival). */
  readonly remote?: boolean | undefined
}

/** A user joined or left a room: their connections start or stop following it. */
export interface Membership {
  readonly _tag: "Membership"
  readonly tenantId: string
  readonly roomId: string
  readonly userId: string
  readonly joined: boolean
  /** The room's last seq when the user joined: live messages follow from there. */
  readonly since: number
}

/** A user came online or went offline, for everyone sharing one of `roomIds`. */
export interface Presence {
  readonly _tag: "Presence"
  readonly tenantId: string
  readonly userId: string
  readonly status: "online" | "offline"
  readonly roomIds: ReadonlyArray<string>
}

/** An encoded server frame for every socket of some users (notifications). */
export interface UserFrame {
  readonly _tag: "UserFrame"
  readonly tenantId: string
  readonly userIds: ReadonlyArray<string>
  readonly data: string
  readonly path: "live" | "retry"
}

/** Catch one user's sockets up on a room from the store (the retry worker's nudge, wherever they are). */
export interface Resync {
  readonly _tag: "Resync"
  readonly tenantId: string
  readonly userId: string
  readonly roomId: string
}

/** What instances tell each other. */
export type BusEvent = RoomFrame | Membership | Presence | UserFrame | Resync

/** Never published: the bus itself says it may have lost events, so every socket catches up from the store. */
export interface Gap {
  readonly _tag: "Gap"
}

/** What a subscriber takes. */
export type BusSignal = BusEvent | Gap

/**
 * Where committed events go to reach every socket: in process for one node (BusMemory), through
 * Redis pub/sub across instances (redis/RedisBus). Delivery is best effort; sockets repair a lost
 * or reordered event from the store by seq.
 */
export interface BusShape {
  readonly publish: (event: BusEvent) => Effect.Effect<void>
  readonly subscribe: Effect.Effect<Queue.Dequeue<BusSignal>, never, Scope.Scope>
  /** Events may have been lost (an instance died between a commit and its publish): every local socket catches up from the store. */
  readonly gap: Effect.Effect<void>
}

export class Bus extends Effect.Service<Bus>()("realtime/Bus", {
  dependencies: [Redis.Default, Metrics.Default],
  scoped: Effect.gen(function*() {
    const { connection } = yield* Redis
    const metrics = yield* Metrics
    const bus: Effect.Effect<BusShape, never, Scope.Scope> = Option.match(connection, {
      onNone: () => memoryBus,
      onSome: (redis) => redisBus(redis, metrics)
    })
    return yield* bus
  })
}) {}

export const roomFrame = (
  tenantId: string,
  roomId: string,
  frame: Record<string, unknown>,
  options: { seq?: number; exceptUser?: string; origin?: string | undefined } = {}
): RoomFrame => ({ _tag: "RoomFrame", tenantId, roomId, data: JSON.stringify(frame), ...options })
