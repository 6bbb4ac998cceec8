import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { client, freePort, root, runCli, startServer, tempDir } from "../support/server.js"

const bin = path.join(root, "dist", "bin.js")

const cli = (args: Array<string>, env: Record<string, string>) =>
  spawnSync(process.execPath, [bin, ...args], {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: "warn", ...env },
    encoding: "utf8"
  })

/** Like `cli`, without blocking the test process, so that several commands run at once. */
const cliAsync = runCli

const migrationCount = fs.readdirSync(path.join(root, "migrations")).filter((f) => /^\d+_.+\.sql$/.test(f)).length
const { version } = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { version: string }

describe("start-up and command line", () => {
  it("stops start-up on a bad variable with a message naming it", () => {
    for (const [name, value] of [["DEFAULT_RATE_LIMIT", "lots"], ["LISTEN_ADDR", "here"], ["SHUTDOWN_DRAIN_TIMEOUT", "10"]] as const) {
      const run = spawnSync(process.execPath, [path.join(root, "dist", "main.js")], {
        cwd: root,
        env: { ...process.env, DATA_DIR: tempDir(), [name]: value },
        encoding: "utf8",
        timeout: 15_000
      })
      expect(run.status, name).toBe(1)
      expect(run.stderr).toContain(name)
      expect(run.stderr).not.toMatch(/\n\s+at /)
    }
  })

  it("reports bad configuration from every command the same way", async () => {
    const runs = await Promise.all([["serve"], [], ["migrate"], ["tenants", "list"]].map((args) =>
      cliAsync(args, { DATA_DIR: tempDir(), LISTEN_ADDR: "nope" }).then((run) => ({ args, ...run }))
    ))
    for (const run of runs) {
      expect(run.status, run.args.join(" ")).toBe(1)
      expect(run.stderr).toContain("chatapi: invalid configuration:")
      expect(run.stderr).toContain("LISTEN_ADDR")
      expect(run.stderr).not.toMatch(/\n\s+at /)
    }
  }, 120_000)

  it("creates a tenant on the server's database without a master key", async () => {
    const dataDir = tempDir()
    const created = cli(["tenants", "create", "acme", "--config", '{"rate_limit_per_sec":50}'], { DATA_DIR: dataDir })
    expect(created.status, created.stderr).toBe(0)
    const tenant = JSON.parse(created.stdout)
    expect(tenant).toMatchObject({ name: "acme", config: { rate_limit_per_sec: 50 } })
    expect(tenant.api_key).toMatch(/^sk_/)

    const listed = cli(["tenants", "list"], { DATA_DIR: dataDir })
    expect(JSON.parse(listed.stdout).map((t: { tenant_id: string }) => t.tenant_id)).toEqual([tenant.tenant_id])
    expect(listed.stdout).not.toContain(tenant.api_key)

    const server = await startServer({ dataDir, env: { MASTER_API_KEY: "" } })
    try {
      const api = client(server.url, tenant.api_key)
      const room = await api.as("alice").post("/rooms", { type: "channel", members: [] })
      expect(room.status).toBe(201)
      expect(room.headers.get("x-ratelimit-limit")).toBe("100")
      const admin = await client(server.url).request("GET", "/admin/tenants", { headers: { "x-master-key": "anything" } })
      expect(admin.status).toBe(403)

      const rotated = cli(["tenants", "rotate", tenant.tenant_id], { DATA_DIR: dataDir })
      expect(rotated.status, rotated.stderr).toBe(0)
      const fresh = JSON.parse(rotated.stdout).api_key as string
      expect((await client(server.url, fresh).as("alice").get("/rooms")).status).toBe(200)
      // The running server remembers a key it checked for a second: the old one is refused soon after
      // (polled for up to 3 s, so that a slow machine's late answers do not fail it).
      const rotatedAt = Date.now()
      let old = await api.as("alice").get("/rooms")
      while (old.status === 200 && Date.now() - rotatedAt < 3000) {
        await new Promise((resolve) => setTimeout(resolve, 50))
        old = await api.as("alice").get("/rooms")
      }
      expect(old.status).toBe(401)
    } finally {
      await server.stop()
    }
    expect(server.logs.join("\n")).not.toContain(tenant.api_key)
  })

  it("rejects an unknown command with the usage", () => {
    const run = cli(["frobnicate"], { DATA_DIR: tempDir() })
    expect(run.status).toBe(1)
    expect(run.stderr).toContain("usage: chatapi")
  })

  it("migrate applies the pending migrations, then none", async () => {
    const dataDir = tempDir()
    const first = await cliAsync(["migrate"], { DATA_DIR: dataDir })
    expect(first.status, first.stderr).toBe(0)
    expect(first.stdout.trim()).toBe(`applied ${migrationCount} migration(s)`)
    const second = await cliAsync(["migrate"], { DATA_DIR: dataDir })
    expect(second.status, second.stderr).toBe(0)
    expect(second.stdout.trim()).toBe("applied 0 migration(s)")
  })

  it("refuses bad tenant input with a message, not a stack", async () => {
    const dataDir = tempDir()
    const [badConfig, badJson, missingName, unknownTenant] = await Promise.all([
      cliAsync(["tenants", "create", "acme", "--config", '{"rate_limit_per_sec":-1}'], { DATA_DIR: dataDir }),
      cliAsync(["tenants", "create", "acme", "--config", "{nope"], { DATA_DIR: dataDir }),
      cliAsync(["tenants", "create"], { DATA_DIR: dataDir }),
      cliAsync(["tenants", "rotate", "tn_missing"], { DATA_DIR: dataDir })
    ])
    expect(badConfig.status).toBe(1)
    expect(badConfig.stderr).toContain("--config: rate_limit_per_sec")
    expect(badJson.status).toBe(1)
    expect(badJson.stderr).toContain("--config:")
    expect(missingName.status).toBe(1)
    expect(missingName.stderr).toContain("NAME")
    expect(missingName.stderr).toContain("usage: chatapi")
    expect(unknownTenant.status).toBe(1)
    expect(unknownTenant.stderr).toContain("chatapi: tenant not found")
    for (const run of [badConfig, badJson, missingName, unknownTenant]) expect(run.stderr).not.toMatch(/\n\s+at /)
    expect(JSON.parse(cli(["tenants", "list"], { DATA_DIR: dataDir }).stdout)).toEqual([])
  }, 120_000)

  it("prints plain-text help for the root and every command, and the version", async () => {
    const commands = [[], ["serve"], ["migrate"], ["tenants"], ["tenants", "create"], ["tenants", "list"], ["tenants", "rotate"], ["backup"]]
    const dataDir = tempDir()
    const runs = await Promise.all(commands.map((command) => cliAsync([...command, "--help"], { DATA_DIR: dataDir })))
    runs.forEach((run, i) => {
      const name = commands[i]!.at(-1) ?? "chatapi"
      expect(run.status, `${name}: ${run.stderr}`).toBe(0)
      expect(run.stdout).toContain("USAGE")
      expect(run.stdout).toMatch(new RegExp(`\\$ ${name}\\b`))
      expect(run.stdout).not.toContain("\x1b[")
    })
    for (const command of ["serve", "migrate", "tenants create", "tenants list", "tenants rotate", "backup"]) {
      expect(runs[0]!.stdout).toContain(`- ${command}`)
    }
    expect(fs.readdirSync(dataDir), "help touches no database").toEqual([])

    const shown = await cliAsync(["--version"], { DATA_DIR: dataDir })
    expect(shown.status).toBe(0)
    expect(shown.stdout.trim()).toBe(version)
  }, 120_000)

  it("serves with `serve` and with no command, until SIGTERM", async () => {
    for (const args of [["serve"], []]) {
      const port = await freePort()
      const child = spawn(process.execPath, [bin, ...args], {
        cwd: root,
        env: { ...process.env, DATA_DIR: tempDir(), LISTEN_ADDR: `127.0.0.1:${port}`, LOG_LEVEL: "info" },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let stdout = ""
      child.stdout.on("data", (d) => (stdout += String(d)))
      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
      try {
        let health: Response | undefined
        for (let i = 0; i < 400 && child.exitCode === null && health === undefined; i++) {
          health = await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined)
          if (health === undefined) await new Promise((r) => setTimeout(r, 50))
        }
        expect(health?.status, `chatapi ${args.join(" ")}`).toBe(200)
        expect(await health!.json()).toMatchObject({ status: "ok", db_writable: true })
        expect(stdout).toContain("listening")
      } finally {
        child.kill("SIGTERM")
      }
      expect(await exited).toBe(0)
    }
  }, 120_000)
})
