import * as net from "node:net"

export interface Proxy {
  readonly port: number
  readonly url: string
  /** Forwards new connections to another port (a restarted server). */
  retarget(port: number): void
  /** The network goes away: open connections are dropped (no close frame) and new ones refused. */
  cut(): void
  /** The open connections go silent one way: what clients send still reaches the server, nothing comes back. */
  mute(): void
  /** The network is back. */
  restore(): void
  close(): Promise<void>
}

/**
 * A TCP forwarder on a port of its own in front of a server: clients keep one address across
 * server restarts, and a test can take their network away and give it back.
 */
export const startProxy = (targetPort: number): Promise<Proxy> =>
  new Promise((resolve, reject) => {
    let target = targetPort
    let up = true
    const muted = new WeakSet<net.Socket>()
    const open = new Set<net.Socket>()
    const server = net.createServer((client) => {
      if (!up) return client.destroy()
      const upstream = net.connect(target, "127.0.0.1")
      const drop = () => {
        client.destroy()
        upstream.destroy()
        open.delete(client)
      }
      open.add(client)
      client.on("error", drop).on("close", drop)
      upstream.on("error", drop).on("close", drop)
      client.pipe(upstream)
      upstream.on("data", (chunk) => muted.has(client) || client.write(chunk))
    })
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port
      const cut = () => {
        up = false
        for (const socket of open) socket.destroy()
      }
      resolve({
        port,
        url: `http://127.0.0.1:${port}`,
        retarget: (p) => (target = p),
        cut,
        mute: () => {
          for (const socket of open) muted.add(socket)
        },
        restore: () => (up = true),
        close: () =>
          new Promise((done) => {
            cut()
            server.close(() => done())
          })
      })
    })
  })
