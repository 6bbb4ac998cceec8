import { Data, Effect } from "effect"
import type { Socket as NetSocket } from "node:net"
import type { WebSocket } from "ws"

/**
 * A server-to-client WebSocket text frame (FIN, opcode 1, unmasked), encoded once: every member of
 * a room gets the same bytes, written straight to each socket.
 */
export const textFrame = (data: string): Buffer => {
  const length = Buffer.byteLength(data, "utf8")
  const head = length < 126 ? 2 : length < 65_536 ? 4 : 10
  const frame = Buffer.allocUnsafe(head + length)
  frame[0] = 0x81
  if (head === 2) {
    frame[1] = length
  } else if (head === 4) {
    frame[1] = 126
    frame.writeUInt16BE(length, 2)
  } else {
    frame[1] = 127
    frame.writeBigUInt64BE(BigInt(length), 2)
  }
  frame.write(data, head, "utf8")
  return frame
}

/** An unmasked WebSocket ping with no payload; clients answer with a pong. */
export const PING_FRAME = Buffer.from([0x89, 0x00])

export const OPEN = 1

/**
 * Finishes a socket's upgrade (the 101) and hands every frame the client sends to `onFrame`, from
 * the first one on; fails when the connection is gone or the handshake was refused.
 */
export type Accept = (onFrame: (data: string | Uint8Array) => void) => Effect.Effect<WebSocket, SocketGone>

export class SocketGone extends Data.TaggedError("SocketGone")<{}> {}

/** Calls `f` once the WebSocket has closed, whichever side closed it (at once if it has). */
export const whenClosed = (ws: WebSocket, f: () => void) => {
  if (ws.readyState === ws.CLOSED) f()
  else ws.once("close", f)
}

/**
 * Writes to a socket are held (corked) until the current synchronous run of deliveries is over,
 * so several frames for one socket leave in one system call.
 */
export const corkedWriter = (socket: NetSocket) => {
  let corked = false
  const uncork = () => {
    corked = false
    socket.uncork()
  }
  return (bytes: Buffer) => {
    if (!corked) {
      corked = true
      socket.cork()
      process.nextTick(uncork)
    }
    socket.write(bytes)
  }
}
