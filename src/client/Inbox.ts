/**
 * What one client has seen of each room's message stream, and which read cursors it may send.
 *
 * The server sends each socket a room's messages in seq order with no gap (its own WS sends are
 * answered with `message.sent` instead), and a new socket starts after the user's `last_ack`. So a
 * `message` frame at or below the highest seq seen in its room is a re-delivery; the user's own
 * messages, which may reach the client twice (as `message.sent` and in a later sync), are known by
 * their `message_id`.
 */
export const makeInbox = () => {
  /** Per room: the highest seq of a `message` frame received. */
  const streamMax = new Map<string, number>()
  /** The message_ids of the user's own messages the application was given. */
  const own = new Set<string>()
  const requested = new Map<string, number>()
  const acked = new Map<string, number>()
  const notifications = new Set<string>()

  return {
    /** A `message` frame: true when it is new to the application (and so in seq order in its room). */
    message: (roomId: string, seq: number, messageId: string, mine: boolean): boolean => {
      if (seq <= (streamMax.get(roomId) ?? 0)) return false
      streamMax.set(roomId, seq)
      if (!mine) return true
      if (own.has(messageId)) return false
      own.add(messageId)
      return true
    },
    /** The user's own send, confirmed by `message.sent`: true when the application has not seen it yet. */
    sent: (messageId: string): boolean => {
      if (own.has(messageId)) return false
      own.add(messageId)
      return true
    },
    /** A `notification` frame: true the first time its id is seen. */
    notification: (notificationId: string): boolean => {
      if (notifications.has(notificationId)) return false
      notifications.add(notificationId)
      return true
    },
    /** The application has read `roomId` up to `seq`; cursors only move forward. */
    markRead: (roomId: string, seq: number) => {
      if (seq > (requested.get(roomId) ?? 0)) requested.set(roomId, seq)
    },
    /**
     * The acks to send now. A cursor never passes the highest seq this client was sent in the room,
     * so a message still on its way (sent just before one of ours) cannot be acked unseen.
     */
    dueAcks: (): Array<{ readonly roomId: string; readonly seq: number }> => {
      const due: Array<{ roomId: string; seq: number }> = []
      for (const [roomId, wanted] of requested) {
        const seq = Math.min(wanted, streamMax.get(roomId) ?? 0)
        if (seq > (acked.get(roomId) ?? 0)) {
          acked.set(roomId, seq)
          due.push({ roomId, seq })
        }
      }
      return due
    },
    /** A new socket: every cursor is sent again (the server ignores one that does not move). */
    resetAcks: () => acked.clear()
  }
}

export type Inbox = ReturnType<typeof makeInbox>
