import { spawnSync } from "node:child_process"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { client, root, startServer, tempDir } from "../support/server.js"

const cli = (args: Array<string>, env: Record<string, string>) =>
  spawnSync(process.execPath, [path.join(root, "dist", "bin.js"), ...args], {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: "warn", ...env },
    encoding: "utf8"
  })

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
      expect((await api.as("alice").get("/rooms")).status).toBe(401)
      expect((await client(server.url, fresh).as("alice").get("/rooms")).status).toBe(200)
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
})
