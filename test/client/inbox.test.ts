import { describe, expect, it } from "vitest"
import { reconnectDelay, shutdownDelay } from "../../src/client/Backoff.js"
import { makeInbox } from "../../src/client/Inbox.js"
import { socketUrl } from "../../src/client/Wire.js"

describe("Inbox", () => {
  it("passes each room's messages once and in seq order; a re-delivery at or below the seen seq is dropped", () => {
    const inbox = makeInbox()
    expect([1, 2, 3].map((seq) => inbox.message("r", seq, `m${seq}`, false))).toEqual([true, true, true])
    // A reconnect sync from last_ack = 1 sends 2 and 3 again, then 4.
    expect([2, 3, 4].map((seq) => inbox.message("r", seq, `m${seq}`, false))).toEqual([false, false, true])
    // Rooms are independent.
    expect(inbox.message("other", 1, "o1", false)).toBe(true)
  })

  it("tells the application of its own message once, whether message.sent or the sync comes first", () => {
    const inbox = makeInbox()
    expect(inbox.sent("mine-1")).toBe(true)
    expect(inbox.message("r", 1, "mine-1", true)).toBe(false)
    // Stored before a drop, never confirmed: the sync brings it, then the resend's message.sent.
    expect(inbox.message("r", 2, "mine-2", true)).toBe(true)
    expect(inbox.sent("mine-2")).toBe(false)
  })

  it("never acks past the highest seq it was sent, and sends every cursor again on a new socket", () => {
    const inbox = makeInbox()
    inbox.message("r", 1, "m1", false)
    inbox.markRead("r", 3)
    expect(inbox.dueAcks()).toEqual([{ roomId: "r", seq: 1 }])
    expect(inbox.dueAcks()).toEqual([])
    inbox.message("r", 2, "m2", false)
    inbox.message("r", 3, "m3", false)
    expect(inbox.dueAcks()).toEqual([{ roomId: "r", seq: 3 }])
    inbox.markRead("r", 2)
    expect(inbox.dueAcks()).toEqual([])
    inbox.resetAcks()
    expect(inbox.dueAcks()).toEqual([{ roomId: "r", seq: 3 }])
  })

  it("passes a notification once", () => {
    const inbox = makeInbox()
    expect([inbox.notification("n1"), inbox.notification("n1"), inbox.notification("n2")]).toEqual([true, false, true])
  })
})

describe("reconnect delays", () => {
  it("grow exponentially to the cap, each jittered to 50–100 %", () => {
    expect([0, 1, 2, 3, 4, 5, 10].map((n) => reconnectDelay(n, {}, () => 1))).toEqual([250, 500, 1000, 2000, 4000, 5000, 5000])
    expect([0, 1, 5].map((n) => reconnectDelay(n, {}, () => 0))).toEqual([125, 250, 2500])
    expect(reconnectDelay(3, { initialMs: 100, maxMs: 600 }, () => 1)).toBe(600)
    for (let i = 0; i < 100; i++) {
      const d = reconnectDelay(2, {})
      expect(d).toBeGreaterThanOrEqual(500)
      expect(d).toBeLessThanOrEqual(1000)
    }
  })

  it("follow server.shutdown's reconnect_after_ms, plus a little", () => {
    expect(shutdownDelay(2000, () => 0)).toBe(2000)
    expect(shutdownDelay(2000, () => 1)).toBe(2250)
  })
})

describe("socketUrl", () => {
  it("derives ws(s)://…/ws?token= from the HTTP base URL, keeping a path prefix", () => {
    expect(socketUrl("http://localhost:8080", "ct_a.b")).toBe("ws://localhost:8080/ws?token=ct_a.b")
    expect(socketUrl("https://chat.example.com/api/", "t+/=")).toBe("wss://chat.example.com/api/ws?token=t%2B%2F%3D")
  })
})
