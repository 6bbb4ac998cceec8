import { Socket } from "@effect/platform"
import { type Context, Layer, Schema } from "effect"
import { ServerFrame } from "../domain/ServerFrames.js"

/** A WebSocket class: the browser's `WebSocket`, or the `ws` package's on Node 20. */
export type WebSocketConstructor = new (url: string, protocols?: string | Array<string>) => unknown

export const decodeFrame = Schema.decodeUnknownEither(Schema.parseJson(ServerFrame))
export const decoder = new TextDecoder()

/** A random id for `client_msg_id` (no secure context needed, unlike `crypto.randomUUID`). */
export const newId = () => `c_${Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("")}`

/** `ws(s)://host[/prefix]/ws?token=...` from the HTTP base URL. */
export const socketUrl = (base: string, token: string) => {
  const url = new URL("ws", base.endsWith("/") ? base : `${base}/`)
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:"
  url.searchParams.set("token", token)
  return url.toString()
}

/** The WebSocket class for the platform `Socket`. */
export const constructorLayer = (ctor: WebSocketConstructor | undefined) => {
  const found = ctor ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
  if (found === undefined) throw new Error("chatapi/client: no global WebSocket here; pass the `WebSocket` option (e.g. the ws package)")
  type Make = Context.Tag.Service<typeof Socket.WebSocketConstructor>
  return Layer.succeed(Socket.WebSocketConstructor, ((url, protocols) => new found(url, protocols)) as Make)
}
