// The demo page: the SDK's ChatapiClient over the socket, and the demo routes (a typed client derived
// from their HttpApi contract) for the room list, history and members. No API key is ever here.
import { ChatapiClient, createApiClient } from "chatapi/client"
import { DemoApi } from "../src/api/DemoApi.ts"

const $ = (id) => document.getElementById(id)
/** A tiny element builder: `h("li", { className: "x" }, "text", child)`. */
const h = (tag, { dataset = {}, ...props } = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props)
  Object.assign(node.dataset, dataset)
  node.append(...children)
  return node
}
const session = createApiClient(DemoApi, location.origin, {})
let api // the demo routes as the signed-in user, with the latest token
let chat
let me
let current // the open room's id
const rooms = new Map() // room_id -> RoomSummary from GET /demo/rooms, unread kept up to date
const timelines = new Map() // room_id -> Map(message_id or client_msg_id -> message)
const receipts = new Map() // room_id -> Map(user_id -> seq)
const typing = new Map() // room_id -> Map(user_id -> timer)
const online = new Set()
let members = []
let lastTypingSent = 0

const timeline = (roomId) => timelines.get(roomId) ?? timelines.set(roomId, new Map()).get(roomId)
const otherOf = (room) => room.unique_key?.split(":").slice(1).find((u) => u !== me) ?? me
const titleOf = (room) => (room.type === "dm" ? otherOf(room) : room.name ?? `${room.type} ${room.room_id.slice(0, 8)}`)
const newClientMsgId = () => `demo_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 10)}`

async function token() {
  const { token } = await session.session.token({ payload: { user_id: me } })
  api = createApiClient(DemoApi, location.origin, { authorization: `Bearer ${token}` })
  return token
}

async function refreshRooms() {
  const list = await api.rooms.list()
  rooms.clear() // most recent activity first, as the server lists them
  for (const room of list.rooms) rooms.set(room.room_id, { ...room, unread: room.room_id === current ? 0 : room.unread })
  renderRooms()
}

function addMessage(m) {
  const messages = timeline(m.room_id)
  if (m.client_msg_id) messages.delete(m.client_msg_id)
  messages.set(m.message_id, { ...messages.get(m.message_id), ...m })
  if (m.room_id === current) {
    renderMessages()
    markRead()
  }
}

function markRead() {
  const seqs = [...timeline(current).values()].filter((m) => !m.pending).map((m) => m.seq)
  if (seqs.length > 0) chat.markRead(current, Math.max(...seqs))
}

async function openRoom(roomId) {
  current = roomId
  const room = rooms.get(roomId)
  if (room) room.unread = 0
  $("room-title").textContent = room ? titleOf(room) : roomId
  $("composer").hidden = false
  renderRooms()
  renderMessages()
  const [page, list, presence] = await Promise.all([
    api.rooms.history({ path: { room_id: roomId } }),
    api.rooms.members({ path: { room_id: roomId } }),
    api.rooms.presence({ path: { room_id: roomId } })
  ])
  for (const m of page.messages) addMessage(m)
  members = list.members
  for (const m of members) if (m.user_id !== me) online.delete(m.user_id)
  for (const user of presence.online) online.add(user)
  renderRooms()
  renderMembers()
  markRead()
  $("text").focus()
}

async function createRoom(type, users, name) {
  const room = await api.rooms.create({ payload: { type, members: users, ...(name ? { name } : {}) } })
  await refreshRooms()
  await openRoom(room.room_id)
}

function send(text) {
  const roomId = current
  const clientMsgId = newClientMsgId()
  timeline(roomId).set(clientMsgId, { client_msg_id: clientMsgId, room_id: roomId, sender_id: me, content: text, seq: Infinity, pending: true })
  renderMessages()
  chat.typing(roomId, false)
  lastTypingSent = 0
  chat.send(roomId, text, { clientMsgId }).catch((error) => {
    const entry = timeline(roomId).get(clientMsgId)
    if (entry) entry.failed = error.message ?? String(error)
    renderMessages()
  })
}

function renderRooms() {
  const items = [...rooms.values()].map((room) =>
    h("li", { dataset: { roomId: room.room_id }, onclick: () => openRoom(room.room_id), ariaCurrent: String(room.room_id === current) },
      h("span", {}, ...(room.type === "dm" ? [h("span", { className: `dot${online.has(otherOf(room)) ? " online" : ""}` })] : []), titleOf(room)),
      h("span", { className: "unread" }, room.unread > 0 ? String(room.unread) : "")))
  $("rooms").replaceChildren(...items)
}

function renderMessages() {
  if (current === undefined) return
  const list = $("messages")
  const stick = list.scrollTop + list.clientHeight >= list.scrollHeight - 40
  const items = [...timeline(current).values()].sort((a, b) => a.seq - b.seq).map((m) => {
    const meta = `${m.sender_id}${m.pending ? (m.failed ? ` · failed: ${m.failed}` : " · sending…") : ` · #${m.seq}`}`
    return h("li", { className: `${m.sender_id === me ? "mine" : ""}${m.pending ? " pending" : ""}`, dataset: { seq: String(m.seq), sender: m.sender_id } },
      h("div", { className: "meta" }, meta),
      h("div", { className: "content" }, m.deleted ? "(deleted)" : m.content))
  })
  list.replaceChildren(...items)
  if (stick) list.scrollTop = list.scrollHeight
}

function renderMembers() {
  const read = receipts.get(current) ?? new Map()
  $("members").replaceChildren(...members.map((m) =>
    h("li", { dataset: { user: m.user_id } },
      h("span", { className: `dot${online.has(m.user_id) || m.user_id === me ? " online" : ""}` }),
      m.user_id, read.has(m.user_id) ? h("span", { className: "meta" }, ` read #${read.get(m.user_id)}`) : "")))
}

function renderTyping() {
  const who = [...(typing.get(current)?.keys() ?? [])]
  $("typing").textContent = who.length === 0 ? "" : `${who.join(", ")} ${who.length === 1 ? "is" : "are"} typing…`
}

function onTyping({ room_id, user_id, action }) {
  const users = typing.get(room_id) ?? typing.set(room_id, new Map()).get(room_id)
  clearTimeout(users.get(user_id))
  if (action === "start") users.set(user_id, setTimeout(() => onTyping({ room_id, user_id, action: "stop" }), 6000))
  else users.delete(user_id)
  renderTyping()
}

async function signIn(user) {
  me = user
  $("me").textContent = me
  $("signin").hidden = true
  $("app").hidden = false
  chat = new ChatapiClient({ url: location.origin, userId: me, token })
  window.chat = chat
  chat.on("status", ({ status }) => {
    $("status").dataset.status = status
    $("status").textContent = status
    if (status === "online") refreshRooms().catch(console.error)
  })
  chat.on("message", (m) => {
    addMessage(m)
    const room = rooms.get(m.room_id)
    if (room === undefined) return void refreshRooms()
    // The list's counts are the server's as of its last_seq; only later messages add to them.
    if (m.room_id !== current && m.sender_id !== me && m.seq > room.last_seq) room.unread += 1
    room.last_seq = Math.max(room.last_seq, m.seq)
    renderRooms()
  })
  chat.on("sent", addMessage)
  chat.on("message.updated", (m) => timeline(m.room_id).has(m.message_id) && addMessage(m))
  chat.on("message.deleted", (m) => timeline(m.room_id).has(m.message_id) && addMessage({ ...m, deleted: true }))
  chat.on("receipt", ({ room_id, user_id, seq }) => {
    const read = receipts.get(room_id) ?? receipts.set(room_id, new Map()).get(room_id)
    read.set(user_id, Math.max(seq, read.get(user_id) ?? 0))
    if (room_id === current) renderMembers()
  })
  chat.on("typing", onTyping)
  chat.on("presence", ({ user_id, status }) => {
    if (status === "online") online.add(user_id)
    else online.delete(user_id)
    renderRooms()
    renderMembers()
  })
  await chat.connect()
}

$("signin-form").onsubmit = (e) => {
  e.preventDefault()
  signIn($("user").value.trim())
}
$("dm-form").onsubmit = (e) => {
  e.preventDefault()
  createRoom("dm", [$("dm-user").value.trim()]).catch((error) => alert(error.message))
  $("dm-user").value = ""
}
$("group-form").onsubmit = (e) => {
  e.preventDefault()
  const users = $("group-users").value.split(",").map((u) => u.trim()).filter(Boolean)
  createRoom("group", users, `${[me, ...users].join(", ")}`).catch((error) => alert(error.message))
  $("group-users").value = ""
}
$("composer").onsubmit = (e) => {
  e.preventDefault()
  const text = $("text").value.trim()
  if (text === "" || current === undefined) return
  $("text").value = ""
  send(text)
}
$("text").oninput = () => {
  if (current === undefined || Date.now() - lastTypingSent < 3000) return
  lastTypingSent = Date.now()
  chat.typing(current, true)
}

const asked = new URLSearchParams(location.search).get("user")
if (asked) signIn(asked)
