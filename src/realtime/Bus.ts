import { Effect, PubSub, type Scope } from "effect"

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

export type BusEvent = RoomFrame | Membership | Presence | UserFrame

/**
 * Where committed events go to reach every socket. In process for one node; the seam a
 * cross-instance bus plugs into.
 */
export class Bus extends Effect.Service<Bus>()("realtime/Bus", {
  scoped: Effect.gen(function*() {
    const pubsub = yield* Effect.acquireRelease(PubSub.bounded<BusEvent>(65_536), PubSub.shutdown)
    return {
      publish: (event: BusEvent) => Effect.asVoid(PubSub.publish(pubsub, event)),
      subscribe: PubSub.subscribe(pubsub) as Effect.Effect<import("effect").Queue.Dequeue<BusEvent>, never, Scope.Scope>
    } as const
  })
}) {}

export const roomFrame = (
  tenantId: string,
  roomId: string,
  frame: Record<string, unknown>,
  options: { seq?: number; exceptUser?: string; origin?: string | undefined } = {}
): RoomFrame => ({ _tag: "RoomFrame", tenantId, roomId, data: JSON.stringify(frame), ...options })
