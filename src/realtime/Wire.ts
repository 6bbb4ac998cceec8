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

const OPEN = 1

/**
 * Whether frames may still go out on a socket: the `ws` connection on it is open (not closing
 * after either side's close frame) and the TCP socket takes writes.
 */
export const openCheck = (socket: NetSocket): () => boolean => {
  const symbol = Object.getOwnPropertySymbols(socket).find((s) => s.description === "websocket")
  const ws = symbol === undefined ? undefined : (socket as unknown as Record<symbol, { readyState: number } | undefined>)[symbol]
  return ws === undefined ? () => socket.writable : () => ws.readyState === OPEN && socket.writable
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
