import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { createDatabase, dropDatabase, dsnOf, onPostgres } from "./postgres.js"

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..")
export const MASTER_KEY = "test-master-key"

export interface RunningServer {
  readonly url: string
  readonly port: number
  readonly dataDir: string
  readonly process: ChildProcess
  /** Every stdout line so far (JSON log lines). */
  readonly logs: Array<string>
  stop(signal?: NodeJS.Signals, keepData?: boolean): Promise<number | null>
}

const madeDirs: Array<string> = []
/** On PostgreSQL, the database that stands for each data directory, so that a restart finds its data. */
const databases = new Map<string, string>()

const databaseFor = async (dataDir: string) => {
  const known = databases.get(dataDir)
  if (known !== undefined) return known
  const name = await createDatabase()
  databases.set(dataDir, name)
  return name
}

/** With CHATAPI_TEST_STORE=postgres: the DSN of the database that stands for `dataDir`. */
export const storeDsn = async (dataDir: string) => dsnOf(await databaseFor(dataDir))

const forgetDatabase = async (dataDir: string) => {
  const name = databases.get(dataDir)
  if (name === undefined) return
  databases.delete(dataDir)
  await dropDatabase(name)
}

/** Removes every temporary directory and test database made so far (run after each test file). */
export const removeTempDirs = async () => {
  for (const dir of madeDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
  await Promise.all([...databases.keys()].map(forgetDatabase))
}

/** A temporary directory, removed when the test process exits. */
export const tempDir = (prefix = "chatapi-test-") => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  madeDirs.push(dir)
  return dir
}

/** A port nothing listens on right now, on 127.0.0.1. */
export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const probe = net.createServer()
    probe.once("error", reject)
    probe.listen(0, "127.0.0.1", () => {
      const { port } = (probe.address() as net.AddressInfo)
      probe.close(() => resolve(port))
    })
  })

/** Runs `dist/bin.js ARGS` as a process with LOG_LEVEL=warn over the environment; resolves when it exits. */
export const runCli = (args: ReadonlyArray<string>, env: Record<string, string>) =>
  new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, "dist", "bin.js"), ...args], { cwd: root, env: { ...process.env, LOG_LEVEL: "warn", ...env } })
    let stdout = ""
    let stderr = ""
    child.stdout!.on("data", (d) => (stdout += String(d)))
    child.stderr!.on("data", (d) => (stderr += String(d)))
    child.once("error", reject)
    child.once("close", (status) => resolve({ status, stdout, stderr }))
  })

/** Runs `examples/NAME` as a process over the environment (20 s timeout for its waits); resolves when it exits. */
export const runExample = (name: string, env: Record<string, string>) =>
  new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = spawn(process.execPath, [path.join(root, "examples", name)], {
      cwd: root,
      env: { ...process.env, CHATAPI_TIMEOUT_MS: "20000", ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    child.stdout!.on("data", (d) => (output += String(d)))
    child.stderr!.on("data", (d) => (output += String(d)))
    child.on("exit", (code) => resolve({ code, output }))
  })

/**
 * Starts the built server (`dist/main.js`) on a free 127.0.0.1 port and waits until /health answers.
 * With `CHATAPI_TEST_STORE=postgres` its store is a PostgreSQL database of its own, kept with the data directory.
 */
export const startServer = async (
  options: { dataDir?: string; env?: Record<string, string>; nodeArgs?: ReadonlyArray<string> } = {}
): Promise<RunningServer> => {
  const ownDir = options.dataDir === undefined
  const dataDir = options.dataDir ?? tempDir()
  const port = await freePort()
  const store = onPostgres && options.env?.DATABASE_DSN === undefined ? { DATABASE_DSN: dsnOf(await databaseFor(dataDir)) } : {}
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), path.join(root, "dist", "main.js")], {
    cwd: root,
    env: {
      ...process.env,
      LISTEN_ADDR: `127.0.0.1:${port}`,
      DATA_DIR: dataDir,
      MASTER_API_KEY: MASTER_KEY,
      LOG_LEVEL: "info",
      ...store,
      ...options.env
    },
    stdio: ["ignore", "pipe", "pipe"]
  })
  const logs: Array<string> = []
  let stderr = ""
  let buffer = ""
  child.stderr!.on("data", (d) => (stderr += String(d)))
  child.stdout!.on("data", (chunk) => {
    buffer += String(chunk)
    const lines = buffer.split("\n")
    buffer = lines.pop()!
    logs.push(...lines)
  })
  // Generous: start-up waits on the CPU of a shared machine (several servers start at once in some tests).
  const deadline = Date.now() + 60_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}: ${stderr}`)
    if (Date.now() > deadline) {
      child.kill("SIGKILL")
      throw new Error(`server did not answer /health within 60 s: ${stderr}`)
    }
    if (await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false)) break
    await new Promise((r) => setTimeout(r, 50))
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    dataDir,
    process: child,
    logs,
    /** Stops the process; a data directory the harness made is removed unless `keepData`. */
    stop: (signal = "SIGTERM", keepData = false) =>
      new Promise<number | null>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode)
        child.once("exit", (code) => resolve(code))
        child.kill(signal)
      }).then(async (code) => {
        if (ownDir && !keepData) {
          fs.rmSync(dataDir, { recursive: true, force: true })
          await forgetDatabase(dataDir)
        }
        return code
      })
  }
}

export interface Response<T = any> {
  readonly status: number
  readonly headers: Headers
  readonly body: T
}

/** A small JSON client for one tenant key; `as(user)` acts as a user. */
export const client = (url: string, apiKey?: string) => {
  const request = async <T = any>(
    method: string,
    route: string,
    options: { body?: unknown; raw?: string; user?: string; headers?: Record<string, string> } = {}
  ): Promise<Response<T>> => {
    const headers: Record<string, string> = { ...options.headers }
    if (apiKey !== undefined) headers["x-api-key"] = apiKey
    if (options.user !== undefined) headers["x-user-id"] = options.user
    let body: string | undefined = options.raw
    if (options.body !== undefined) {
      body = JSON.stringify(options.body)
      headers["content-type"] = "application/json"
    }
    const res = await fetch(url + route, { method, headers, ...(body === undefined ? {} : { body }) })
    const text = await res.text()
    let parsed: unknown = text
    try {
      parsed = text === "" ? null : JSON.parse(text)
    } catch {
      // leave as text
    }
    return { status: res.status, headers: res.headers, body: parsed as T }
  }
  return {
    request,
    as: (user: string) => ({
      get: <T = any>(route: string, headers?: Record<string, string>) => request<T>("GET", route, { user, ...(headers ? { headers } : {}) }),
      post: <T = any>(route: string, body?: unknown, headers?: Record<string, string>) =>
        request<T>("POST", route, { user, body, ...(headers ? { headers } : {}) }),
      patch: <T = any>(route: string, body?: unknown) => request<T>("PATCH", route, { user, body }),
      del: <T = any>(route: string) => request<T>("DELETE", route, { user })
    })
  }
}

/** Creates a tenant through the admin API; returns its id and a client for its key. */
export const createTenant = async (url: string, name = "acme", config?: Record<string, unknown>) => {
  const admin = client(url)
  const res = await admin.request("POST", "/admin/tenants", {
    headers: { "x-master-key": MASTER_KEY },
    body: { name, ...(config ? { config } : {}) }
  })
  if (res.status !== 201) throw new Error(`tenant creation failed: ${res.status} ${JSON.stringify(res.body)}`)
  return { tenantId: res.body.tenant_id as string, apiKey: res.body.api_key as string, api: client(url, res.body.api_key) }
}
