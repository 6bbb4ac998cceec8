import { Redis } from "ioredis"
import { type ChildProcess, spawn } from "node:child_process"
import * as crypto from "node:crypto"
import { freePort } from "./server.js"

/** The machine's shared Redis: tests only ever add and delete keys under a prefix of their own. */
export const REDIS_URL = process.env.CHATAPI_TEST_REDIS_URL ?? "redis://127.0.0.1:6379"
const ci = !["", "0", "false"].includes(process.env.CI ?? "")

const connect = async (url: string) => {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1_000 })
  let cause: Error | undefined
  client.on("error", (error: Error) => (cause ??= error))
  await client.connect().catch((error: Error) => Promise.reject(cause ?? error))
  return client
}

/** Why `url` cannot be used, or undefined when it answers PING. */
export const probeRedis = async (url = REDIS_URL): Promise<string | undefined> => {
  let client: Redis | undefined
  try {
    client = await connect(url)
    await client.ping()
    return undefined
  } catch (error) {
    return (error as Error).message || String(error)
  } finally {
    client?.disconnect()
  }
}

/**
 * Whether the Redis tests run: without Redis they are skipped with a printed reason, unless CI is
 * set; then `failure` is the reason they must fail for.
 */
export const redisGate = async () => {
  const unavailable = await probeRedis()
  if (unavailable === undefined) return { skip: false, failure: undefined }
  const message = `Redis at ${REDIS_URL} is not reachable (${unavailable})`
  if (ci) return { skip: false, failure: `${message}; CI is set, so the Redis end-to-end tests may not be skipped` }
  console.warn(`\n${message}: SKIPPING the Redis end-to-end tests.\n`)
  return { skip: true, failure: undefined }
}

/** A key prefix of the test's own. */
export const testPrefix = () => `chatapi-test-${crypto.randomBytes(6).toString("hex")}:`

/** Every key under `prefix`. */
export const keysUnder = async (prefix: string, url = REDIS_URL) => {
  const client = await connect(url)
  try {
    const keys: Array<string> = []
    let cursor = "0"
    do {
      const [next, batch] = await client.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000)
      keys.push(...batch)
      cursor = next
    } while (cursor !== "0")
    return keys
  } finally {
    client.disconnect()
  }
}

/** Runs one command on the Redis at `url`. */
export const redisCommand = async (url: string, name: string, ...args: Array<string>) => {
  const client = await connect(url)
  try {
    return await client.call(name, ...args)
  } finally {
    client.disconnect()
  }
}

/** Deletes every key under `prefix`. */
export const deleteKeys = async (prefix: string, url = REDIS_URL) => {
  const keys = await keysUnder(prefix, url)
  if (keys.length === 0) return
  const client = await connect(url)
  try {
    await client.del(...keys)
  } finally {
    client.disconnect()
  }
}


export interface OwnRedis {
  readonly url: string
  /** SIGKILL: an outage as sudden as a crash. */
  stop(): Promise<void>
  /** Starts it again on the same port, empty (nothing when it runs). */
  start(): Promise<void>
  /** Runs one command on it. */
  command(name: string, ...args: Array<string>): Promise<unknown>
}

/** A redis-server of the test's own on a free port, for outages; the machine's shared Redis is never stopped. */
export const ownRedis = async (): Promise<OwnRedis> => {
  const port = await freePort()
  const url = `redis://127.0.0.1:${port}`
  let child: ChildProcess | undefined
  const running = () => child !== undefined && child.exitCode === null && child.signalCode === null
  const start = async () => {
    if (running()) return
    const proc = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"], {
      stdio: "ignore"
    })
    child = proc
    let failed: Error | undefined
    proc.once("error", (error) => (failed = error))
    const deadline = Date.now() + 10_000
    while ((await probeRedis(url)) !== undefined) {
      if (failed !== undefined) throw new Error(`redis-server could not be started: ${failed.message}`)
      if (proc.exitCode !== null) throw new Error(`redis-server on port ${port} exited with ${proc.exitCode}`)
      if (Date.now() > deadline) {
        proc.kill("SIGKILL")
        throw new Error(`redis-server on port ${port} did not answer within 10 s`)
      }
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  const stop = () =>
    new Promise<void>((resolve) => {
      const proc = child
      child = undefined
      if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return resolve()
      proc.once("exit", () => resolve())
      proc.kill("SIGKILL")
    })
  const command = (name: string, ...args: Array<string>) => redisCommand(url, name, ...args)
  // Never outlive the test process, even when it ends without running afterAll.
  process.once("exit", () => child?.kill("SIGKILL"))
  await start()
  return { url, start, stop, command }
}
