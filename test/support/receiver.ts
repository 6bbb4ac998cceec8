import * as crypto from "node:crypto"
import * as http from "node:http"
import type * as net from "node:net"
import { waitForMatches } from "./wait.js"

/** One webhook call as the receiver saw it. */
export interface WebhookCall {
  readonly method: string
  readonly path: string
  readonly headers: http.IncomingHttpHeaders
  /** The raw body text, exactly as received (what the signature covers). */
  readonly body: string
  /** The parsed body, or undefined when it is not JSON. */
  readonly json: any
  /** Date.now() when the request line arrived. */
  readonly at: number
  /** Whether `x-chatapi-signature` is `v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>`. */
  readonly verified: boolean
  /** The status answered; undefined while the call hangs (or when it never got an answer). */
  status: number | undefined
}

export type ReceiverMode = "succeed" | "fail" | "hang"

export interface Receiver {
  /** `http://127.0.0.1:<port>/hook` */
  readonly url: string
  readonly port: number
  readonly secret: string
  /** Every call so far, in arrival order. */
  readonly calls: Array<WebhookCall>
  /** Answers 2xx from now on (hung calls stay hung until `release`). */
  succeed(): void
  /** Answers 500 to every call from now on. */
  fail(): void
  /** Never answers calls from now on, until `release` or `close`. */
  hang(): void
  /** Answers 500 to the next `n` calls, whatever the mode (then the mode applies again). */
  failNext(n: number): void
  /** Answers every hung call with `status` (default 200) and goes back to succeeding. */
  release(status?: number): void
  /** How many calls are being held open right now. */
  inFlight(): number
  /** Waits until `count` calls match (default 1); returns them. */
  waitFor(match: (c: WebhookCall) => boolean, count?: number, timeoutMs?: number): Promise<Array<WebhookCall>>
  close(): Promise<void>
}

/** Checks a chatapi signature header in constant time. */
export const verifySignature = (secret: string, headers: http.IncomingHttpHeaders, body: string): boolean => {
  const signature = headers["x-chatapi-signature"]
  const timestamp = headers["x-chatapi-timestamp"]
  if (typeof signature !== "string" || typeof timestamp !== "string" || !signature.startsWith("v1=")) return false
  const given = Buffer.from(signature.slice(3), "utf8")
  const expected = Buffer.from(crypto.createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex"), "utf8")
  return given.length === expected.length && crypto.timingSafeEqual(given, expected)
}

const open = new Set<Receiver>()

/** Closes every receiver still open (for afterAll). */
export const closeAllReceivers = () => Promise.all([...open].map((r) => r.close())).then(() => undefined)

/** A real webhook receiver on 127.0.0.1 and an ephemeral port. */
export const startReceiver = (options: { secret?: string; mode?: ReceiverMode } = {}): Promise<Receiver> => {
  const secret = options.secret ?? `whsec_${crypto.randomBytes(24).toString("hex")}`
  const calls: Array<WebhookCall> = []
  const waiters = new Set<() => void>()
  const held = new Set<{ call: WebhookCall; res: http.ServerResponse }>()
  const sockets = new Set<net.Socket>()
  let mode: ReceiverMode = options.mode ?? "succeed"
  let failures = 0

  const answer = (call: WebhookCall, res: http.ServerResponse, status: number) => {
    call.status = status
    if (res.writableEnded || res.destroyed) return
    res.writeHead(status, { "content-type": "application/json" })
    res.end(JSON.stringify(status < 300 ? { ok: true } : { error: "receiver told to fail" }))
  }

  const server = http.createServer((req, res) => {
    const at = Date.now()
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8")
      let json: unknown
      try {
        json = JSON.parse(body)
      } catch {
        json = undefined
      }
      const call: WebhookCall = {
        method: req.method ?? "",
        path: req.url ?? "",
        headers: req.headers,
        body,
        json,
        at,
        verified: verifySignature(secret, req.headers, body),
        status: undefined
      }
      calls.push(call)
      if (failures > 0) {
        failures--
        answer(call, res, 500)
      } else if (mode === "fail") answer(call, res, 500)
      else if (mode === "succeed") answer(call, res, 200)
      else {
        const entry = { call, res }
        held.add(entry)
        res.on("close", () => held.delete(entry))
      }
      for (const w of [...waiters]) w()
    })
  })
  server.on("connection", (socket) => {
    sockets.add(socket)
    socket.on("close", () => sockets.delete(socket))
  })

  return new Promise((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo
      const receiver: Receiver = {
        url: `http://127.0.0.1:${port}/hook`,
        port,
        secret,
        calls,
        succeed: () => void (mode = "succeed"),
        fail: () => void (mode = "fail"),
        hang: () => void (mode = "hang"),
        failNext: (n) => void (failures = n),
        release: (status = 200) => {
          mode = "succeed"
          for (const entry of [...held]) {
            held.delete(entry)
            answer(entry.call, entry.res, status)
          }
        },
        inFlight: () => held.size,
        waitFor: (match, count = 1, timeoutMs = 10_000) =>
          waitForMatches(calls, waiters, match, count, timeoutMs, () => {
            const last = calls.slice(-5).map((c) => ({ status: c.status, attempt: c.headers["x-chatapi-attempt"], body: c.json }))
            return `receiver: ${calls.length} calls so far, last: ${JSON.stringify(last)}`
          }),
        close: () =>
          new Promise<void>((res) => {
            open.delete(receiver)
            for (const entry of held) entry.res.destroy()
            held.clear()
            for (const socket of sockets) socket.destroy()
            if (!server.listening) return res()
            server.close(() => res())
          })
      }
      open.add(receiver)
      resolve(receiver)
    })
  })
}
