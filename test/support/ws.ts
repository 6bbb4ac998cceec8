import WebSocket from "ws"
import { waitForMatches } from "./wait.js"

export interface Frame {
  readonly type: string
  readonly [key: string]: any
}

export interface WsClient {
  readonly socket: WebSocket
  /** Every frame received so far, in order. */
  readonly frames: Array<Frame>
  send(frame: Record<string, unknown> | string): void
  /** Waits until `count` frames match (default 1); returns them. */
  waitFor(match: (f: Frame) => boolean, count?: number, timeoutMs?: number): Promise<Array<Frame>>
  readonly closed: Promise<{ code: number; reason: string }>
  close(): Promise<void>
}

/** Opens `/ws` and resolves once open; rejects with the HTTP status when the upgrade is refused. */
export const connectWs = (
  baseUrl: string,
  options: { query?: Record<string, string>; headers?: Record<string, string> } = {}
): Promise<WsClient> =>
  new Promise((resolve, reject) => {
    const url = new URL("/ws", baseUrl.replace(/^http/, "ws"))
    for (const [k, v] of Object.entries(options.query ?? {})) url.searchParams.set(k, v)
    const socket = new WebSocket(url, { headers: options.headers ?? {} })
    const frames: Array<Frame> = []
    const waiters = new Set<() => void>()
    socket.on("message", (data) => {
      frames.push(JSON.parse(String(data)))
      for (const w of waiters) w()
    })
    const closed = new Promise<{ code: number; reason: string }>((res) =>
      socket.on("close", (code, reason) => res({ code, reason: String(reason) }))
    )
    socket.once("unexpected-response", (_req, res) => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode })))
    socket.once("error", (e) => reject(e))
    socket.once("open", () =>
      resolve({
        socket,
        frames,
        closed,
        send: (frame) => socket.send(typeof frame === "string" ? frame : JSON.stringify(frame)),
        waitFor: (match, count = 1, timeoutMs = 10_000) =>
          waitForMatches(frames, waiters, match, count, timeoutMs, () => `frames; have ${JSON.stringify(frames.slice(-5))}`),
        close: () =>
          new Promise((res) => {
            if (socket.readyState === WebSocket.CLOSED) return res()
            socket.once("close", () => res())
            socket.close()
          })
      })
    )
  })
