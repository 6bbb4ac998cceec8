import { Effect, Exit, Queue, Scope } from "effect"
import type { ChatEventMap, ChatEventType, ConnectionStatus, SentMessage } from "./Events.js"
import { make, type Realtime, type RealtimeOptions, type SendOptions } from "./Realtime.js"
import { runPromise } from "./Rest.js"

export interface ChatapiClientOptions extends Omit<RealtimeOptions, "token"> {
  /** A fresh connection token for every attempt: ask your backend, which calls `POST /tokens`. */
  readonly token: () => string | Promise<string>
}

/** An event of a `ChatapiClient`: its data is in `detail`. */
export type ChatapiEvent<K extends ChatEventType> = CustomEvent<ChatEventMap[K]>

type Listener = Parameters<EventTarget["addEventListener"]>[1]
type AddOptions = Parameters<EventTarget["addEventListener"]>[2]
type RemoveOptions = Parameters<EventTarget["removeEventListener"]>[2]

export interface ChatapiClient {
  addEventListener<K extends ChatEventType>(type: K, listener: (event: ChatapiEvent<K>) => void, options?: AddOptions): void
  addEventListener(type: string, listener: Listener, options?: AddOptions): void
  removeEventListener<K extends ChatEventType>(type: K, listener: (event: ChatapiEvent<K>) => void, options?: RemoveOptions): void
  removeEventListener(type: string, listener: Listener, options?: RemoveOptions): void
}

/**
 * The realtime client for applications that do not use Effect: Promises, and an `EventTarget`
 * whose events (`message`, `sent`, `receipt`, `typing`, `presence`, `notification`, `status`, ...)
 * carry their data in `detail`.
 *
 * ```js
 * const chat = new ChatapiClient({ url, userId: "alice", token: () => fetch("/chat-token").then((r) => r.text()) })
 * chat.addEventListener("message", (e) => show(e.detail))
 * await chat.connect()
 * await chat.send(roomId, "hello")
 * ```
 */
export class ChatapiClient extends EventTarget {
  readonly #scope: Scope.CloseableScope
  readonly #realtime: Realtime

  constructor(options: ChatapiClientOptions) {
    super()
    const token = Effect.tryPromise(() => Promise.resolve(options.token()))
    this.#scope = Effect.runSync(Scope.make())
    this.#realtime = Effect.runSync(Scope.extend(make({ ...options, token }), this.#scope))
    const events = Effect.runSync(Scope.extend(this.#realtime.subscribe, this.#scope))
    Effect.runFork(
      Queue.take(events).pipe(
        Effect.map((e) => this.dispatchEvent(new CustomEvent(e.type, { detail: e.data }))),
        Effect.forever
      )
    )
  }

  get userId(): string {
    return this.#realtime.userId
  }

  get status(): ConnectionStatus {
    return Effect.runSync(this.#realtime.status)
  }

  /** Starts connecting (and reconnecting); resolves once the first socket is open. */
  connect(): Promise<void> {
    return runPromise(this.#realtime.connect)
  }

  /** Resolves once stored, with its seq; queued while offline and resent on reconnect, never stored twice. */
  send(roomId: string, content: string, options?: SendOptions): Promise<SentMessage> {
    return runPromise(this.#realtime.send(roomId, content, options))
  }

  /** The user has read `roomId` up to `seq` (the read cursor only moves forward). */
  markRead(roomId: string, seq: number): void {
    Effect.runSync(this.#realtime.markRead(roomId, seq))
  }

  ackNotification(notificationId: string): void {
    Effect.runSync(this.#realtime.ackNotification(notificationId))
  }

  typing(roomId: string, typing = true): void {
    Effect.runSync(this.#realtime.typing(roomId, typing))
  }

  /** Follows a channel without joining it (again after every reconnect). */
  follow(roomId: string): void {
    Effect.runSync(this.#realtime.follow(roomId))
  }

  unfollow(roomId: string): void {
    Effect.runSync(this.#realtime.unfollow(roomId))
  }

  /** Calls `listener` with each event's data; returns the function that stops it. */
  on<K extends ChatEventType>(type: K, listener: (data: ChatEventMap[K]) => void): () => void {
    const handler = (e: Event) => listener((e as ChatapiEvent<K>).detail)
    this.addEventListener(type, handler)
    return () => this.removeEventListener(type, handler)
  }

  /** Closes the socket for good; sends not yet stored reject with `ClientClosed`. */
  close(): Promise<void> {
    return Effect.runPromise(Scope.close(this.#scope, Exit.void))
  }
}
