import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { client, createTenant, MASTER_KEY, type RunningServer, startServer } from "../support/server.js"
import { connectWs } from "../support/ws.js"
import { sleep } from "./_helpers.js"

type Samples = Map<string, number>

/** Prometheus text format: `# HELP`/`# TYPE` comments and `name{labels} value` samples (prom-client writes NaN as `Nan`, as Prometheus reads it); anything else throws. */
const parseMetrics = (text: string): Samples => {
  const samples: Samples = new Map()
  for (const line of text.split("\n")) {
    if (line === "" || /^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$/.test(line)) continue
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})?) (-?[0-9.e+-]+|NaN|Nan|[+-]Inf)$/.exec(line)
    if (!match) throw new Error(`not Prometheus text: ${line}`)
    samples.set(match[1]!, Number(match[2]))
  }
  return samples
}

const scrape = async (server: RunningServer, headers: Record<string, string> = { "x-master-key": MASTER_KEY }) => {
  const res = await fetch(`${server.url}/metrics`, { headers })
  return { status: res.status, type: res.headers.get("content-type"), text: await res.text() }
}

describe("GET /metrics", () => {
  let server: RunningServer
  beforeAll(async () => {
    // Webhooks (configured to prove their secret never shows) go to a closed port on this machine.
    server = await startServer({ env: { WEBHOOK_ALLOW_PRIVATE: "true" } })
  })
  afterAll(async () => {
    await server?.stop()
  })

  it("is closed without the master key and parses as Prometheus text with it", async () => {
    expect((await scrape(server, {})).status).toBe(401)
    expect((await scrape(server, { "x-master-key": "wrong" })).status).toBe(401)
    const ok = await scrape(server)
    expect(ok.status).toBe(200)
    expect(ok.type).toMatch(/^text\/plain/)
    const samples = parseMetrics(ok.text)
    for (const name of ["chatapi_ws_connections", "chatapi_sqlite_wal_bytes", "chatapi_process_resident_memory_bytes"]) {
      expect(samples.has(name), name).toBe(true)
    }
  })

  it("moves its counters with traffic and never shows a tenant id, key or secret", async () => {
    const { apiKey, api, tenantId } = await createTenant(server.url, "metered", { rate_limit_per_sec: 1, burst: 40, webhook_url: "http://127.0.0.1:9/h", webhook_secret: "s3cret-s3cret-s3cret" })
    const before = parseMetrics((await scrape(server)).text)
    const roomId = (await api.as("ann").post("/rooms", { type: "group", members: ["ben"] })).body.room_id
    const ben = await connectWs(server.url, { headers: { "x-api-key": apiKey, "x-user-id": "ben" } })
    const during = parseMetrics((await scrape(server)).text)
    expect(during.get("chatapi_ws_connections")).toBe((before.get("chatapi_ws_connections") ?? 0) + 1)
    for (let i = 0; i < 5; i++) expect((await api.as("ann").post(`/rooms/${roomId}/messages`, { content: `m${i}` })).status).toBe(201)
    await ben.waitFor((f) => f.type === "message", 5)
    let limited = 0
    while (limited === 0) if ((await api.as("ann").get("/rooms")).status === 429) limited++
    await ben.close()
    await sleep(100)
    const after = await scrape(server)
    const samples = parseMetrics(after.text)
    const delta = (name: string) => (samples.get(name) ?? 0) - (before.get(name) ?? 0)
    expect(delta(`chatapi_messages_sent_total{transport="rest"}`)).toBe(5)
    expect(delta(`chatapi_deliveries_total{path="live",kind="message"}`)).toBe(5)
    expect(delta(`chatapi_rate_limited_total{transport="rest"}`)).toBeGreaterThanOrEqual(1)
    expect(delta(`chatapi_http_request_duration_seconds_count{method="POST",route="/rooms/:room_id/messages",status="201"}`)).toBe(5)
    expect(samples.get("chatapi_ws_connections")).toBe(before.get("chatapi_ws_connections") ?? 0)
    for (const secret of [tenantId, apiKey, "s3cret-s3cret-s3cret", roomId, MASTER_KEY]) expect(after.text).not.toContain(secret)
  })

  it("takes a bearer METRICS_TOKEN instead of the master key when one is set", async () => {
    const own = await startServer({ env: { METRICS_TOKEN: "metrics-token-123" } })
    try {
      expect((await scrape(own, { authorization: "Bearer metrics-token-123" })).status).toBe(200)
      expect((await scrape(own)).status).toBe(401)
    } finally {
      await own.stop()
    }
  })
})

describe("logs", () => {
  it("write one JSON line per request with route, status and ids, and never a key, token or secret", async () => {
    const server = await startServer({ env: { LOG_LEVEL: "debug", WEBHOOK_ALLOW_PRIVATE: "true" } })
    try {
      const secret = "webhook-secret-never-logged"
      const { apiKey, api, tenantId } = await createTenant(server.url, "logged", { webhook_url: "http://127.0.0.1:9/h", webhook_secret: secret })
      const rotated = await client(server.url).request("POST", `/admin/tenants/${tenantId}/rotate-key`, { headers: { "x-master-key": MASTER_KEY } })
      const newKey = rotated.body.api_key as string
      const fresh = client(server.url, newKey)
      const roomId = (await fresh.as("ann").post("/rooms", { type: "group", members: ["ben"] })).body.room_id
      const token = (await fresh.as("ben").post("/tokens", {})).body.token as string
      const byToken = await connectWs(server.url, { query: { token } })
      const byQuery = await connectWs(server.url, { query: { api_key: newKey, user_id: "ann" } })
      await fresh.as("ann").post(`/rooms/${roomId}/messages`, { content: "hello" })
      await api.as("ann").get("/rooms") // the old key: 401
      await byToken.close()
      await byQuery.close()
      await sleep(300)

      const text = server.logs.join("\n")
      for (const leak of [apiKey, newKey, token, secret, MASTER_KEY]) expect(text).not.toContain(leak)
      const lines = server.logs.map((l) => JSON.parse(l) as Record<string, unknown>)
      const send = lines.find((l) => l.msg === "request" && l.route === "/rooms/:room_id/messages" && l.method === "POST")
      expect(send).toMatchObject({ level: "info", status: 201, tenant_id: tenantId, user_id: "ann" })
      expect(typeof send!.duration_ms).toBe("number")
      expect(lines.some((l) => l.msg === "request" && l.status === 401)).toBe(true)
    } finally {
      await server.stop()
    }
  })

  it("honour LOG_LEVEL: at warn, no request lines", async () => {
    const server = await startServer({ env: { LOG_LEVEL: "warn" } })
    try {
      await createTenant(server.url, "quiet")
      await sleep(100)
      expect(server.logs.filter((l) => l.includes("\"msg\":\"request\""))).toEqual([])
    } finally {
      await server.stop()
    }
  })
})
