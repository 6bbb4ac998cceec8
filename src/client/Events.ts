import type * as Frames from "../domain/ServerFrames.js"

/** Where the realtime connection stands. */
export type ConnectionStatus = "idle" | "connecting" | "online" | "offline" | "closed"

/** One of this client's sends, stored by the server. */
export interface SentMessage {
  readonly room_id: string
  readonly seq: number
  readonly message_id: string
  readonly sender_id: string
  readonly content: string
  readonly meta: Record<string, unknown>
  readonly client_msg_id: string
  readonly created_at: string
}

/** The events a realtime client emits, by name. */
export interface ChatEventMap {
  /** A message new to this client: each once, and in seq order within its room. */
  readonly message: Frames.MessageFrame
  /** One of this client's sends was stored (also after a resend on reconnect: still once). */
  readonly sent: SentMessage
  readonly "message.updated": Frames.MessageUpdatedFrame
  readonly "message.deleted": Frames.MessageDeletedFrame
  /** A read receipt: `user_id` has read `room_id` up to `seq`. */
  readonly receipt: Frames.AckReceivedFrame
  readonly typing: Frames.TypingFrame
  readonly presence: Frames.PresenceFrame
  /** A notification new to this client (deduplicated by `notification_id`). */
  readonly notification: Frames.NotificationFrame
  /** Every `error` frame the server sent (a failed send also rejects its promise). */
  readonly error: Frames.ErrorFrame
  readonly status: { readonly status: ConnectionStatus }
}

export type ChatEventType = keyof ChatEventMap

/** An event as the Effect API streams it: its name and its data. */
export type ChatEvent = { readonly [K in ChatEventType]: { readonly type: K; readonly data: ChatEventMap[K] } }[ChatEventType]

export const event = <K extends ChatEventType>(type: K, data: ChatEventMap[K]) => ({ type, data }) as ChatEvent
