import type { Socket as NetSocket } from "node:net"

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

/** What the server needs of the `ws` connection on a socket. */
export interface WireSocket {
  readonly readyState: number
  close(code: number, reason: string): void
}

/** The `ws` connection that took over a socket at the upgrade (`ws` keeps it on the socket under a symbol of its own). */
export const webSocketOf = (socket: NetSocket): WireSocket => {
  const symbol = Object.getOwnPropertySymbols(socket).find((s) => s.description === "websocket")
  const ws = symbol === undefined ? undefined : (socket as unknown as Record<symbol, WireSocket | undefined>)[symbol]
  if (ws === undefined) throw new Error("no WebSocket on this socket")
  return ws
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
