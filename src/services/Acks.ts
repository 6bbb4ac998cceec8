import { Effect } from "effect"
import { MessagesRepo } from "../db/MessagesRepo.js"
import { ValidationError } from "../domain/Errors.js"
import type { Seq, TenantId, UserId } from "../domain/Ids.js"
import { type AckRequest, AckResult } from "../domain/Message.js"
import { Bus, roomFrame } from "../realtime/Bus.js"
import { Rooms } from "./Rooms.js"

export class Acks extends Effect.Service<Acks>()("services/Acks", {
  dependencies: [MessagesRepo.Default, Rooms.Default, Bus.Default],
  effect: Effect.gen(function*() {
    const repo = yield* MessagesRepo
    const rooms = yield* Rooms
    const bus = yield* Bus

    /** Moves the caller's cursor forward only: older or repeated acks change nothing. */
    const ack = (tenantId: TenantId, caller: UserId, input: AckRequest) =>
      Effect.gen(function*() {
        const { room } = yield* rooms.writable(tenantId, caller, input.room_id)
        if (input.seq > room.last_seq) {
          return yield* Effect.fail(
            new ValidationError({ message: `seq is beyond the room's last message (${room.last_seq})`, field: "seq" })
          )
        }
        const before = yield* repo.lastAck(tenantId, room.room_id, caller)
        const lastAck = yield* repo.ack(tenantId, room.room_id, caller, input.seq)
        if (lastAck > before) {
          yield* bus.publish(roomFrame(tenantId, room.room_id, { type: "ack.received", room_id: room.room_id, seq: lastAck, user_id: caller }, { exceptUser: caller }))
        }
        const unread = yield* repo.unread(tenantId, room.room_id, caller, lastAck)
        return new AckResult({ room_id: room.room_id, last_ack: lastAck as Seq, unread }, true)
      }).pipe(Effect.annotateLogs({ tenant_id: tenantId, user_id: caller, room_id: input.room_id, seq: input.seq }))

    return { ack } as const
  })
}) {}
