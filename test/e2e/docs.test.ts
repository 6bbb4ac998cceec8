import { Validator } from "@seriousme/openapi-schema-validator"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Api } from "../../src/api/Api.js"
import { errorCodes } from "../../src/domain/Errors.js"
import { ClientFrame, CloseCodes } from "../../src/domain/Frames.js"
import { createTenant, root, runExample, type RunningServer, startServer } from "../support/server.js"

/** Every REST route of the contract, as OpenAPI writes it: `POST /rooms/{room_id}/messages`. */
const contractRoutes = () =>
  Object.values(Api.groups).flatMap((group) =>
    Object.values(group.endpoints).map((endpoint) => `${endpoint.method} ${endpoint.path.replace(/:(\w+)\??/g, "{$1}")}`)
  ).sort()

describe("API documentation", () => {
  let server: RunningServer
  beforeAll(async () => {
    server = await startServer()
  })
  afterAll(async () => {
    await server?.stop()
  })

  it("serves a valid OpenAPI document listing every REST route of the contract", async () => {
    const res = await fetch(`${server.url}/openapi.json`)
    expect(res.status).toBe(200)
    expect(res.headers.get("content-type")).toMatch(/application\/json/)
    const spec = (await res.json()) as Record<string, any>

    const validator = new Validator()
    const result = await validator.validate(spec)
    expect(result.errors).toBeUndefined()
    expect(result.valid).toBe(true)
    expect(() => validator.resolveRefs()).not.toThrow()

    const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"))
    expect(spec.info).toMatchObject({ title: "chatapi", version: pkg.version })
    expect(spec.info.description.length).toBeGreaterThan(0)

    const documented = Object.entries(spec.paths as Record<string, Record<string, unknown>>)
      .flatMap(([route, ops]) => Object.keys(ops).map((method) => `${method.toUpperCase()} ${route}`))
      .sort()
    expect(contractRoutes().length).toBeGreaterThan(20)
    expect(documented).toEqual(contractRoutes())

    const schemes = Object.values(spec.components.securitySchemes as Record<string, { type: string; in: string; name: string }>)
    expect(schemes).toEqual(expect.arrayContaining([
      expect.objectContaining({ type: "apiKey", in: "header", name: "X-API-Key" }),
      expect.objectContaining({ type: "apiKey", in: "header", name: "X-Master-Key" })
    ]))
    const send = spec.paths["/rooms/{room_id}/messages"].post
    expect(send.parameters).toEqual(expect.arrayContaining([expect.objectContaining({ name: "X-User-Id", in: "header", required: true })]))
    expect(spec.paths["/admin/tenants"].post.security).toEqual([{ masterKey: [] }])
  })

  it("serves an interactive page for the document without external assets", async () => {
    const res = await fetch(`${server.url}/docs`)
    expect(res.status).toBe(200)
    expect(res.headers.get("content-type")).toMatch(/text\/html/)
    const html = await res.text()
    expect(html).toContain("/openapi.json")
    expect(html).not.toMatch(/<script[^>]+src=["']https?:/i)
    expect(html).not.toMatch(/<link[^>]+href=["']https?:/i)
  })

  it("runs the example client against the real server", async () => {
    const { apiKey } = await createTenant(server.url, "example")
    const plain = await runExample("client.mjs", { CHATAPI_URL: server.url, CHATAPI_API_KEY: apiKey, CHATAPI_USERS: "ana,ben" })
    expect(plain.code, plain.output).toBe(0)
    expect(plain.output).toMatch(/\[ben\] <- message seq=1 from ana/)
    expect(plain.output).toMatch(/\[ana\] <- ack\.received/)

    const dropped = await runExample("client.mjs", { CHATAPI_URL: server.url, CHATAPI_API_KEY: apiKey, CHATAPI_USERS: "cleo,dan", CHATAPI_DROP_ONCE: "1" })
    expect(dropped.code, dropped.output).toBe(0)
    expect(dropped.output).toMatch(/\[dan\] reconnecting in \d+ ms/)
    expect(dropped.output).toMatch(/\[dan\] <- message seq=1 again \(duplicate, skipped\)/)
  })

  it("exits non-zero when it cannot complete an exchange", async () => {
    const result = await runExample("client.mjs", { CHATAPI_URL: server.url, CHATAPI_API_KEY: "sk_wrong", CHATAPI_TIMEOUT_MS: "3000" })
    expect(result.code).not.toBe(0)
  })

  it("documents every client frame type, close code and error code in docs/websocket.md", () => {
    const doc = fs.readFileSync(path.join(root, "docs", "websocket.md"), "utf8")
    const types = [...new Set(ClientFrame.members.map((member) => member.fields.type.literals[0]))]
    expect(types.length).toBeGreaterThan(5)
    for (const type of types) expect(doc).toContain(`\`${type}\``)
    for (const code of Object.values(CloseCodes)) expect(doc).toMatch(new RegExp(`^\\| ${code} \\|`, "m"))
    for (const code of Object.values(errorCodes)) expect(doc).toContain(`\`${code}\``)
  })
})
