import { afterAll, describe, expect, it } from "vitest"
import { expectError } from "../e2e/_helpers.js"
import { client, createTenant, MASTER_KEY, type RunningServer, startServer, tempDir } from "../support/server.js"
import { connectWs } from "../support/ws.js"

const servers: Array<RunningServer> = []
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()))
})

const start = async (options: Parameters<typeof startServer>[0] = {}) => {
  const server = await startServer(options)
  servers.push(server)
  return server
}

const demoTenants = async (url: string) =>
  (await client(url).request("GET", "/admin/tenants", { headers: { "x-master-key": MASTER_KEY } })).body.tenants.filter((t: any) => t.name === "chatapi-demo")

describe("DEMO", () => {
  it("is off by default: no page, no demo routes, no demo tenant", async () => {
    const server = await start()
    const http = client(server.url)
    expectError(await http.request("GET", "/demo"), 404, "NOT_FOUND")
    expectError(await http.request("POST", "/demo/token", { body: { user_id: "alice" } }), 404, "NOT_FOUND")
    expect(await demoTenants(server.url)).toEqual([])
  })

  it("refuses a value that is not a boolean, naming the variable", async () => {
    await expect(start({ env: { DEMO: "maybe" } })).rejects.toThrow(/DEMO/)
  })

  it("DEMO=1 serves the page and acts for any user of one demo tenant by connection token, never by API key", async () => {
    const dataDir = tempDir("chatapi-demo-")
    const server = await start({ dataDir, env: { DEMO: "1" } })
    const http = client(server.url)

    const page = await fetch(`${server.url}/demo`)
    expect(page.status).toBe(200)
    expect(page.headers.get("content-type")).toMatch(/^text\/html/)
    expect(page.headers.get("content-security-policy")).toContain("default-src 'self'")
    expect(await page.text()).toContain(`<script type="module" src="/demo/app.js">`)
    const script = await fetch(`${server.url}/demo/app.js`)
    expect(script.headers.get("content-type")).toMatch(/^text\/javascript/)
    const bundle = await script.text()
    // The SDK is in it, and nothing of Node's (no node: module, no ws package).
    expect(["send_message", "/demo/token"].map((s) => bundle.includes(s))).toEqual([true, true])
    expect(/from\s*["']node:|require\(["'](?:node:|ws["'])/.test(bundle)).toBe(false)

    const issued = await http.request("POST", "/demo/token", { body: { user_id: "alice" } })
    expect(issued.status).toBe(201)
    expect(issued.body).toMatchObject({ user_id: "alice", token: expect.stringMatching(/^ct_/) })
    expectError(await http.request("POST", "/demo/token", { body: { user_id: "not a user" } }), 400, "VALIDATION_ERROR", "user_id")
    const bob = (await http.request("POST", "/demo/token", { body: { user_id: "bob" } })).body.token as string
    const socket = await connectWs(server.url, { query: { token: bob } })

    const as = (token: string) => ({ authorization: `Bearer ${token}` })
    const alice = issued.body.token as string
    expectError(await http.request("GET", "/demo/rooms"), 401, "AUTHENTICATION_ERROR")
    expectError(await http.request("GET", "/demo/rooms", { headers: as("ct_forged.token") }), 401, "AUTHENTICATION_ERROR")
    // A token of another tenant does not open the demo routes.
    const other = await createTenant(server.url, "acme")
    const foreign = (await other.api.as("alice").post("/tokens", {})).body.token as string
    expectError(await http.request("GET", "/demo/rooms", { headers: as(foreign) }), 401, "AUTHENTICATION_ERROR")

    const created = await http.request("POST", "/demo/rooms", { headers: as(alice), body: { type: "dm", members: ["bob"] } })
    expect(created.status).toBe(201)
    const again = await http.request("POST", "/demo/rooms", { headers: as(bob), body: { type: "dm", members: ["alice"] } })
    expect([again.status, again.body.room_id]).toEqual([200, created.body.room_id])
    const roomId = created.body.room_id as string
    expect((await http.request("GET", "/demo/rooms", { headers: as(bob) })).body.rooms.map((r: any) => [r.room_id, r.unread])).toEqual([[roomId, 0]])
    const members = await http.request("GET", `/demo/rooms/${roomId}/members`, { headers: as(bob) })
    expect(members.body.members.map((m: any) => m.user_id).sort()).toEqual(["alice", "bob"])
    expect((await http.request("GET", `/demo/rooms/${roomId}/messages?after_seq=0`, { headers: as(bob) })).body).toEqual({ messages: [], has_more: false })
    // Presence snapshot: bob has a socket open, alice has none.
    expect((await http.request("GET", `/demo/rooms/${roomId}/presence`, { headers: as(alice) })).body).toEqual({ online: ["bob"] })
    await socket.close()
    const carol = (await http.request("POST", "/demo/token", { body: { user_id: "carol" } })).body.token as string
    expectError(await http.request("GET", `/demo/rooms/${roomId}/messages`, { headers: as(carol) }), 403, "FORBIDDEN")
    expectError(await http.request("GET", `/demo/rooms/${roomId}/presence`, { headers: as(carol) }), 403, "FORBIDDEN")

    // Idempotent across restarts: the same demo tenant, with its rooms.
    await server.stop("SIGTERM", true)
    const restarted = await start({ dataDir, env: { DEMO: "1" } })
    expect(await demoTenants(restarted.url)).toHaveLength(1)
    const token = (await client(restarted.url).request("POST", "/demo/token", { body: { user_id: "alice" } })).body.token as string
    const rooms = await client(restarted.url).request("GET", "/demo/rooms", { headers: as(token) })
    expect(rooms.body.rooms.map((r: any) => r.room_id)).toEqual([roomId])
  })
})
