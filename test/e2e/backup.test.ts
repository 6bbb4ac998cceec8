import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { createTenant, type RunningServer, runCli, startServer, tempDir } from "../support/server.js"
import { FAST } from "./_helpers.js"

const Database = createRequire(import.meta.url)("better-sqlite3") as new (file: string, options: { readonly: boolean }) => {
  prepare(sql: string): { all(...params: Array<unknown>): Array<Record<string, unknown>> }
  close(): void
}

const query = (file: string, sql: string, ...params: Array<unknown>) => {
  const db = new Database(file, { readonly: true })
  try {
    return db.prepare(sql).all(...params)
  } finally {
    db.close()
  }
}

const backup = (file: string, env: Record<string, string>) => runCli(["backup", file], env)

const BATCH = 32
const SENDS = 400

describe("chatapi backup", () => {
  let server: RunningServer
  let tenant: Awaited<ReturnType<typeof createTenant>>
  beforeAll(async () => {
    server = await startServer()
    tenant = await createTenant(server.url, "backup", FAST)
  })
  afterAll(async () => {
    await server?.stop()
  })

  it("copies a consistent snapshot while sends keep committing", async () => {
    const room = (await tenant.api.as("ann").post("/rooms", { type: "channel", members: [] })).body.room_id as string
    const acked = new Map<string, number>()
    let backupDone = false
    let sent = 0
    let failures = 0
    const sending = (async () => {
      // At least SENDS messages, and never stop before the backup has finished: the copy runs under load.
      while ((sent < SENDS || !backupDone) && sent < 20 * SENDS) {
        const batch = Array.from({ length: BATCH }, () => sent++)
        await Promise.all(batch.map(async (i) => {
          const res = await tenant.api.as("ann").post(`/rooms/${room}/messages`, { content: `m${i}` })
          if (res.status === 201) acked.set(res.body.message_id, res.body.seq)
          else failures++
        }))
      }
    })()

    while (acked.size < SENDS / 4) await new Promise((r) => setTimeout(r, 5))
    const before = new Map(acked)
    const file = path.join(tempDir(), "copy.db")
    const run = await backup(file, { DATA_DIR: server.dataDir }).finally(() => (backupDone = true))
    const ackedDuringBackup = acked.size - before.size
    await sending

    expect(run.status, run.stderr).toBe(0)
    expect(failures).toBe(0)
    expect(ackedDuringBackup, "sends kept committing while the backup ran").toBeGreaterThan(0)
    expect(JSON.parse(run.stdout)).toEqual({
      file,
      source: path.join(server.dataDir, "chatapi.db"),
      bytes: fs.statSync(file).size
    })
    expect(fs.readdirSync(path.dirname(file)), "only the copy, no partial file").toEqual(["copy.db"])

    expect(query(file, "PRAGMA integrity_check")).toEqual([{ integrity_check: "ok" }])
    const copied = query(file, "SELECT message_id, seq FROM messages WHERE room_id = ? ORDER BY seq", room) as Array<
      { message_id: string; seq: number }
    >
    expect(copied.map((m) => m.seq)).toEqual(copied.map((_, i) => i + 1))
    const inCopy = new Set(copied.map((m) => m.message_id))
    const missing = [...before.keys()].filter((id) => !inCopy.has(id))
    expect(missing, "every message acknowledged before the backup began").toEqual([])
    expect(copied.length).toBeGreaterThanOrEqual(before.size)

    // The copy is a prefix of the live room: the same message at every seq it holds.
    const live = query(path.join(server.dataDir, "chatapi.db"), "SELECT message_id, seq FROM messages WHERE room_id = ? ORDER BY seq", room)
    expect(live.length).toBe(acked.size)
    expect(live.slice(0, copied.length)).toEqual(copied)
  }, 120_000)

  it("refuses to overwrite an existing file", async () => {
    const file = path.join(tempDir(), "existing.db")
    fs.writeFileSync(file, "keep me")
    const run = await backup(file, { DATA_DIR: server.dataDir })
    expect(run.status).toBe(1)
    expect(run.stderr).toContain(`chatapi: ${file} already exists`)
    expect(run.stdout).toBe("")
    expect(fs.readFileSync(file, "utf8")).toBe("keep me")
  })

  it("fails clearly without a SQLite database to copy", async () => {
    const empty = tempDir()
    const [missing, postgres, noDir] = await Promise.all([
      backup(path.join(tempDir(), "a.db"), { DATA_DIR: empty }),
      backup(path.join(tempDir(), "b.db"), { DATA_DIR: empty, DATABASE_DSN: "postgres://chat@localhost/chat" }),
      backup(path.join(empty, "no", "such", "dir.db"), { DATA_DIR: server.dataDir })
    ])
    expect(missing.status).toBe(1)
    expect(missing.stderr).toContain(`chatapi: no database at ${path.join(empty, "chatapi.db")}`)
    expect(fs.readdirSync(empty), "a missing database is not created").toEqual([])
    expect(postgres.status).toBe(1)
    expect(postgres.stderr).toContain("only with the SQLite store")
    expect(noDir.status).toBe(1)
    expect(noDir.stderr).toContain("does not exist")
  })
})
