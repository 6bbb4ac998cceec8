import * as net from "node:net"

/** Writes `bytes` on a fresh connection and reads everything until the server closes it. */
export const rawRequest = (port: number, bytes: Buffer | string) =>
  new Promise<string>((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.write(bytes))
    let data = ""
    socket.on("data", (chunk) => (data += String(chunk)))
    socket.on("error", reject)
    socket.on("close", () => resolve(data))
  })

/** The status and JSON body of a raw HTTP response. */
export const parseRaw = (response: string) => ({
  status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(response)?.[1]),
  body: JSON.parse(response.slice(response.indexOf("\r\n\r\n") + 4))
})
