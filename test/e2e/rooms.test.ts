import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { createTenant, type RunningServer, startServer } from "../support/server.js"
import { type Api, expectError, FAST, sleep } from "./_helpers.js"

let server: RunningServer
let api: Api
beforeAll(async () => {
  server = await startServer()
  api = (await createTenant(server.url, "rooms", FAST)).api
})
afterAll(async () => {
  await server?.stop()
})

const group = async (owner: string, members: Array<string>, extra: Record<string, unknown> = {}) => {
  const res = await api.as(owner).post("/rooms", { type: "group", members, ...extra })
  expect(res.status).toBe(201)
  return res.body.room_id as string
}
const roles = async (user: string, roomId: string) => {
  const res = await api.as(user).get(`/rooms/${roomId}/members`)
  expect(res.status).toBe(200)
  return Object.fromEntries(res.body.members.map((m: any) => [m.user_id, m.role]))
}

describe("POST /rooms", () => {
  it("creates a group with the creator as owner, name and metadata kept", async () => {
    const res = await api.as("alice").post("/rooms", { type: "group", members: ["bob", "carol"], name: "Team", metadata: { k: 1 } })
    expect(res.status).toBe(201)
    expect(res.body).toMatchObject({ type: "group", name: "Team", metadata: { k: 1 }, unique_key: null, last_seq: 0, created_by: "alice" })
    expect(typeof res.body.room_id).toBe("string")
    expect(Number.isNaN(Date.parse(res.body.created_at))).toBe(false)
    expect(await roles("alice", res.body.room_id)).toEqual({ alice: "owner", bob: "member", carol: "member" })
  })

  it("keeps the creator as owner when they list themself", async () => {
    const roomId = await group("alice", ["alice", "bob"])
    expect(await roles("alice", roomId)).toEqual({ alice: "owner", bob: "member" })
  })

  it("creates a channel", async () => {
    const res = await api.as("alice").post("/rooms", { type: "channel", members: [] })
    expect(res.status).toBe(201)
    expect(res.body).toMatchObject({ type: "channel", created_by: "alice" })
    expect(await roles("alice", res.body.room_id)).toEqual({ alice: "owner" })
  })

  it("creates a dm with unique_key dm:<min>:<max> and returns it (200) when created again by either side", async () => {
    const first = await api.as("zed").post("/rooms", { type: "dm", members: ["amy"] })
    expect(first.status).toBe(201)
    expect(first.body.unique_key).toBe("dm:amy:zed")
    const again = await api.as("amy").post("/rooms", { type: "dm", members: ["zed"] })
    expect(again.status).toBe(200)
    expect(again.body.room_id).toBe(first.body.room_id)
    const repeat = await api.as("zed").post("/rooms", { type: "dm", members: ["zed", "amy"] })
    expect(repeat.status).toBe(200)
    expect(repeat.body.room_id).toBe(first.body.room_id)
  })

  it("rejects a dm that is not exactly two distinct users with 400 on members", async () => {
    expectError(await api.as("alice").post("/rooms", { type: "dm", members: [] }), 400, "VALIDATION_ERROR", "members")
    expectError(await api.as("alice").post("/rooms", { type: "dm", members: ["alice"] }), 400, "VALIDATION_ERROR", "members")
    expectError(await api.as("alice").post("/rooms", { type: "dm", members: ["bob", "carol"] }), 400, "VALIDATION_ERROR", "members")
  })

  it("rejects a bad type or bad members with the §9 body and the field", async () => {
    expectError(await api.as("alice").post("/rooms", { type: "forum", members: ["bob"] }), 400, "VALIDATION_ERROR", "type")
    expectError(await api.as("alice").post("/rooms", { members: ["bob"] }), 400, "VALIDATION_ERROR", "type")
    expectError(await api.as("alice").post("/rooms", { type: "group", members: "bob" }), 400, "VALIDATION_ERROR", "members")
    expectError(await api.as("alice").post("/rooms", { type: "group" }), 400, "VALIDATION_ERROR", "members")
    expectError(await api.as("alice").post("/rooms", { type: "group", members: ["bob", "a:b"] }), 400, "VALIDATION_ERROR", "members[1]")
    expectError(await api.as("alice").post("/rooms", { type: "group", members: [], metadata: [1] }), 400, "VALIDATION_ERROR", "metadata")
  })

  it("10 concurrent creations of one DM (alice and bob mixed) give one room: one 201, nine 200", async () => {
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        i % 2 === 0
          ? api.as("dm-alice").post("/rooms", { type: "dm", members: ["dm-bob"] })
          : api.as("dm-bob").post("/rooms", { type: "dm", members: ["dm-alice"] }))
    )
    expect(new Set(results.map((r) => r.body.room_id)).size).toBe(1)
    expect(results.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 201])
    const list = await api.as("dm-alice").get("/rooms")
    expect(list.body.rooms.filter((r: any) => r.type === "dm")).toHaveLength(1)
  })
})

describe("GET /rooms", () => {
  it("lists the caller's rooms, most recent activity first, with last_seq, last_ack and unread", async () => {
    const r1 = await group("lu-alice", ["lu-bob"])
    await sleep(5)
    const r2 = await group("lu-alice", ["lu-bob"])
    await sleep(5)
    const r3 = await group("lu-alice", [])
    await sleep(5)
    for (const [user, content] of [["lu-bob", "1"], ["lu-bob", "2"], ["lu-alice", "3"]]) {
      expect((await api.as(user!).post(`/rooms/${r1}/messages`, { content })).status).toBe(201)
    }
    const alice = await api.as("lu-alice").get("/rooms")
    expect(alice.status).toBe(200)
    expect(alice.body.rooms.map((r: any) => r.room_id)).toEqual([r1, r3, r2])
    expect(alice.body.rooms[0]).toMatchObject({ last_seq: 3, last_ack: 0, unread: 2, role: "owner" })
    expect(alice.body.rooms[1]).toMatchObject({ last_seq: 0, last_ack: 0, unread: 0 })
    const bob = await api.as("lu-bob").get("/rooms")
    expect(bob.body.rooms.map((r: any) => r.room_id)).toEqual([r1, r2])
    expect(bob.body.rooms[0]).toMatchObject({ last_seq: 3, unread: 1, role: "member" })
    expect((await api.as("lu-alice").post("/acks", { room_id: r1, seq: 3 })).status).toBe(200)
    const after = await api.as("lu-alice").get("/rooms")
    expect(after.body.rooms[0]).toMatchObject({ room_id: r1, last_ack: 3, unread: 0 })
    expect((await api.as("lu-stranger").get("/rooms")).body.rooms).toEqual([])
  })
})

describe("GET /rooms/:id", () => {
  it("404 for an unknown room, 403 for a non-member of a group or dm, 200 for a channel", async () => {
    const g = await group("g-alice", ["g-bob"])
    const dm = await api.as("g-alice").post("/rooms", { type: "dm", members: ["g-bob"] })
    const ch = await api.as("g-alice").post("/rooms", { type: "channel", members: [] })
    expect((await api.as("g-bob").get(`/rooms/${g}`)).body).toMatchObject({ room_id: g, type: "group" })
    expectError(await api.as("g-alice").get("/rooms/00000000-0000-4000-8000-000000000000"), 404, "NOT_FOUND")
    expectError(await api.as("g-eve").get(`/rooms/${g}`), 403, "FORBIDDEN")
    expectError(await api.as("g-eve").get(`/rooms/${dm.body.room_id}`), 403, "FORBIDDEN")
    const read = await api.as("g-eve").get(`/rooms/${ch.body.room_id}`)
    expect(read.status).toBe(200)
    expect(read.body).toMatchObject({ room_id: ch.body.room_id, type: "channel" })
  })
})

describe("PATCH /rooms/:id", () => {
  it("owner and admin change name and metadata; member and stranger get 403; unknown 404", async () => {
    const roomId = await group("p-alice", ["p-bob"], { name: "old" })
    expect((await api.as("p-alice").post(`/rooms/${roomId}/members`, { user_ids: ["p-adm"], role: "admin" })).status).toBe(200)
    const byOwner = await api.as("p-alice").patch(`/rooms/${roomId}`, { name: "new", metadata: { topic: "x" } })
    expect(byOwner.status).toBe(200)
    expect(byOwner.body).toMatchObject({ room_id: roomId, name: "new", metadata: { topic: "x" } })
    const byAdmin = await api.as("p-adm").patch(`/rooms/${roomId}`, { metadata: { topic: "y" } })
    expect(byAdmin.body).toMatchObject({ name: "new", metadata: { topic: "y" } })
    expect((await api.as("p-bob").get(`/rooms/${roomId}`)).body).toMatchObject({ name: "new", metadata: { topic: "y" } })
    expectError(await api.as("p-bob").patch(`/rooms/${roomId}`, { name: "mine" }), 403, "FORBIDDEN")
    expectError(await api.as("p-eve").patch(`/rooms/${roomId}`, { name: "mine" }), 403, "FORBIDDEN")
    expectError(await api.as("p-alice").patch("/rooms/no-such-room", { name: "x" }), 404, "NOT_FOUND")
    expect((await api.as("p-bob").get(`/rooms/${roomId}`)).body.name).toBe("new")
  })

  it("metadata must be a JSON object", async () => {
    const roomId = await group("pm-alice", [])
    for (const metadata of ["text", [1, 2], 5, null]) {
      expectError(await api.as("pm-alice").patch(`/rooms/${roomId}`, { metadata }), 400, "VALIDATION_ERROR", "metadata")
    }
  })

  it("a channel non-member cannot change the channel", async () => {
    const ch = await api.as("pc-alice").post("/rooms", { type: "channel", members: [] })
    expectError(await api.as("pc-eve").patch(`/rooms/${ch.body.room_id}`, { name: "taken" }), 403, "FORBIDDEN")
  })
})

describe("room members", () => {
  it("owner adds members and admins; admin adds members but not admins; member cannot add", async () => {
    const roomId = await group("m-alice", ["m-bob"])
    const added = await api.as("m-alice").post(`/rooms/${roomId}/members`, { user_ids: ["m-carol", "m-carol"] })
    expect(added.status).toBe(200)
    expect(added.body.members).toMatchObject([{ user_id: "m-carol", role: "member" }])
    expect((await api.as("m-alice").post(`/rooms/${roomId}/members`, { user_ids: ["m-adm"], role: "admin" })).body.members)
      .toMatchObject([{ user_id: "m-adm", role: "admin" }])
    expect((await api.as("m-adm").post(`/rooms/${roomId}/members`, { user_ids: ["m-dave"] })).status).toBe(200)
    expectError(await api.as("m-adm").post(`/rooms/${roomId}/members`, { user_ids: ["m-erin"], role: "admin" }), 403, "FORBIDDEN")
    expectError(await api.as("m-bob").post(`/rooms/${roomId}/members`, { user_ids: ["m-frank"] }), 403, "FORBIDDEN")
    expectError(await api.as("m-eve").post(`/rooms/${roomId}/members`, { user_ids: ["m-eve"] }), 403, "FORBIDDEN")
    expectError(await api.as("m-eve").get(`/rooms/${roomId}/members`), 403, "FORBIDDEN")
    expectError(await api.as("m-alice").get("/rooms/no-such-room/members"), 404, "NOT_FOUND")
    expectError(await api.as("m-alice").post("/rooms/no-such-room/members", { user_ids: ["x"] }), 404, "NOT_FOUND")
    expectError(await api.as("m-alice").post(`/rooms/${roomId}/members`, { user_ids: [] }), 400, "VALIDATION_ERROR", "user_ids")
    expect(await roles("m-bob", roomId)).toEqual({ "m-alice": "owner", "m-bob": "member", "m-carol": "member", "m-adm": "admin", "m-dave": "member" })
  })

  it("anyone joins a channel by adding themself, but not others and not as admin", async () => {
    const ch = (await api.as("c-alice").post("/rooms", { type: "channel", members: [] })).body.room_id
    expect((await api.as("c-eve").get(`/rooms/${ch}/members`)).status).toBe(200)
    expectError(await api.as("c-eve").post(`/rooms/${ch}/members`, { user_ids: ["c-mallory"] }), 403, "FORBIDDEN")
    expectError(await api.as("c-eve").post(`/rooms/${ch}/members`, { user_ids: ["c-eve"], role: "admin" }), 403, "FORBIDDEN")
    const join = await api.as("c-eve").post(`/rooms/${ch}/members`, { user_ids: ["c-eve"] })
    expect(join.status).toBe(200)
    expect(join.body.members).toMatchObject([{ user_id: "c-eve", role: "member" }])
    expect((await api.as("c-eve").get("/rooms")).body.rooms.map((r: any) => r.room_id)).toContain(ch)
  })

  it("dm members are fixed: add and remove are 403", async () => {
    const dm = (await api.as("d-alice").post("/rooms", { type: "dm", members: ["d-bob"] })).body.room_id
    expectError(await api.as("d-alice").post(`/rooms/${dm}/members`, { user_ids: ["d-carol"] }), 403, "FORBIDDEN")
    expectError(await api.as("d-alice").del(`/rooms/${dm}/members/d-bob`), 403, "FORBIDDEN")
    expectError(await api.as("d-alice").del(`/rooms/${dm}/members/d-alice`), 403, "FORBIDDEN")
    expect(await roles("d-bob", dm)).toEqual({ "d-alice": "owner", "d-bob": "member" })
  })

  it("leave, remove, and the limits of who removes whom", async () => {
    const roomId = await group("r-alice", ["r-bob", "r-carol", "r-dave"])
    await api.as("r-alice").post(`/rooms/${roomId}/members`, { user_ids: ["r-adm", "r-adm2"], role: "admin" })
    const leave = await api.as("r-bob").del(`/rooms/${roomId}/members/r-bob`)
    expect(leave.status).toBe(204)
    expectError(await api.as("r-bob").get(`/rooms/${roomId}`), 403, "FORBIDDEN")
    expectError(await api.as("r-carol").del(`/rooms/${roomId}/members/r-dave`), 403, "FORBIDDEN")
    expectError(await api.as("r-adm").del(`/rooms/${roomId}/members/r-alice`), 403, "FORBIDDEN")
    expectError(await api.as("r-adm").del(`/rooms/${roomId}/members/r-adm2`), 403, "FORBIDDEN")
    expect((await api.as("r-adm").del(`/rooms/${roomId}/members/r-carol`)).status).toBe(204)
    expect((await api.as("r-alice").del(`/rooms/${roomId}/members/r-adm2`)).status).toBe(204)
    expectError(await api.as("r-alice").del(`/rooms/${roomId}/members/r-nobody`), 404, "NOT_FOUND")
    expectError(await api.as("r-alice").del(`/rooms/${roomId}/members/r-bob`), 404, "NOT_FOUND")
    expectError(await api.as("r-alice").del("/rooms/no-such-room/members/r-alice"), 404, "NOT_FOUND")
    expect(await roles("r-alice", roomId)).toEqual({ "r-alice": "owner", "r-dave": "member", "r-adm": "admin" })
  })

  it("an owner who leaves passes ownership to the longest-standing admin, else the longest-standing member", async () => {
    const withAdmin = await group("o-alice", ["o-zoe"])
    await sleep(5)
    await api.as("o-alice").post(`/rooms/${withAdmin}/members`, { user_ids: ["o-adam"], role: "admin" })
    expect((await api.as("o-alice").del(`/rooms/${withAdmin}/members/o-alice`)).status).toBe(204)
    expect(await roles("o-zoe", withAdmin)).toEqual({ "o-zoe": "member", "o-adam": "owner" })

    const membersOnly = await group("o-alice", ["o-zoe"])
    await sleep(5)
    await api.as("o-alice").post(`/rooms/${membersOnly}/members`, { user_ids: ["o-adam"] })
    expect((await api.as("o-alice").del(`/rooms/${membersOnly}/members/o-alice`)).status).toBe(204)
    expect(await roles("o-zoe", membersOnly)).toEqual({ "o-zoe": "owner", "o-adam": "member" })
    expect((await api.as("o-zoe").patch(`/rooms/${membersOnly}`, { name: "mine now" })).status).toBe(200)
  })
})
