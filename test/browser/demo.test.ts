import * as fs from "node:fs"
import * as path from "node:path"
import { type Browser, chromium, type Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Proxy, startProxy } from "../support/proxy.js"
import { root, type RunningServer, startServer } from "../support/server.js"

/** Debian's Chromium (`.ci/run` installs it); another binary with CHATAPI_CHROMIUM. */
const CHROMIUM = process.env.CHATAPI_CHROMIUM ?? "/usr/bin/chromium"
const ci = !["", "0", "false"].includes(process.env.CI ?? "")
const runnable = fs.existsSync(CHROMIUM) || ci
if (!runnable) console.warn(`\nNo Chromium at ${CHROMIUM}: SKIPPING the browser test (apt-get install -y chromium; CI never skips it).\n`)

const shots = path.join(root, "test-results")

/** The page's own global, inside the functions run in the browser (this project compiles without the DOM library). */
declare const document: any

/** The texts of the open room's messages, as shown, top to bottom. */
const shown = (page: Page) =>
  page.$$eval("#messages li", (items) =>
    items.map((li) => ({
      seq: Number(li.dataset.seq),
      sender: li.dataset.sender,
      text: li.querySelector(".content").textContent,
      pending: li.classList.contains("pending")
    })))

describe.runIf(runnable)("the demo page in Chromium", () => {
  let server: RunningServer
  let browser: Browser
  const proxies: Array<Proxy> = []

  beforeAll(async () => {
    server = await startServer({ env: { DEMO: "1", PRESENCE_GRACE: "300ms" } })
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    })
  })
  afterAll(async () => {
    await browser?.close()
    for (const proxy of proxies) await proxy.close()
    await server?.stop()
  })

  /** One user in a browser context of their own, behind a network of their own (a proxy the test can cut). */
  const signIn = async (user: string) => {
    const network = await startProxy(server.port)
    proxies.push(network)
    const page = await (await browser.newContext({ viewport: { width: 1100, height: 700 } })).newPage()
    const errors: Array<string> = []
    page.on("pageerror", (e) => errors.push(e.message))
    await page.goto(`${network.url}/demo?user=${user}`)
    await page.waitForSelector("#status[data-status=online]")
    return { page, network, errors }
  }

  it("two users chat; one goes offline, messages are sent, and it comes back showing each of them once, in order", async () => {
    const alice = await signIn("alice")
    const bob = await signIn("bob")

    await alice.page.fill("#dm-user", "bob")
    await alice.page.click("#dm-form button")
    await alice.page.waitForSelector("#composer:not([hidden])")
    const dm = await alice.page.$eval("#rooms li[aria-current=true]", (li) => li.dataset.roomId!)
    await alice.page.fill("#text", "hello bob")
    await alice.page.press("#text", "Enter")

    await bob.page.click(`#rooms li[data-room-id="${dm}"]`)
    await bob.page.waitForFunction(() => document.querySelectorAll("#messages li").length === 1)
    await bob.page.type("#text", "hi alice")
    await alice.page.waitForFunction(() => document.querySelector("#typing")!.textContent === "bob is typing…")
    await bob.page.press("#text", "Enter")
    await alice.page.waitForFunction(() => document.querySelectorAll("#messages li:not(.pending)").length === 2)
    // Read receipt and presence, as alice sees them.
    await alice.page.waitForSelector(`#members li[data-user=bob] .dot.online`)
    await alice.page.waitForFunction(() => document.querySelector("#members li[data-user=bob]")!.textContent!.includes("read #1"))

    // Bob's network goes away; alice writes while he is gone, in the DM and in a new group.
    bob.network.cut()
    await bob.page.waitForFunction(() => document.querySelector("#status")!.getAttribute("data-status") !== "online")
    for (const i of [1, 2, 3, 4, 5]) {
      await alice.page.fill("#text", `while you were away ${i}`)
      await alice.page.press("#text", "Enter")
    }
    await alice.page.waitForFunction(() => document.querySelectorAll("#messages li:not(.pending)").length === 7)
    await alice.page.fill("#group-users", "bob")
    await alice.page.click("#group-form button")
    await alice.page.waitForFunction((room) => document.querySelector("#rooms li[aria-current=true]")?.getAttribute("data-room-id") !== room, dm)
    await alice.page.fill("#text", "in the group")
    await alice.page.press("#text", "Enter")
    await alice.page.waitForFunction(() => document.querySelectorAll("#messages li:not(.pending)").length === 1)
    expect(await bob.page.$$eval("#messages li", (items) => items.length)).toBe(2)

    bob.network.restore()
    await bob.page.waitForSelector("#status[data-status=online]", { timeout: 30_000 })
    await bob.page.waitForFunction(() => document.querySelectorAll("#messages li").length >= 7)
    await bob.page.waitForTimeout(500)
    expect(await shown(bob.page)).toEqual([
      { seq: 1, sender: "alice", text: "hello bob", pending: false },
      { seq: 2, sender: "bob", text: "hi alice", pending: false },
      ...[1, 2, 3, 4, 5].map((i) => ({ seq: 2 + i, sender: "alice", text: `while you were away ${i}`, pending: false }))
    ])
    // The group he was added to while away shows up with its unread count.
    await bob.page.waitForFunction(() => [...document.querySelectorAll("#rooms li")].some((li) => li.querySelector(".unread")!.textContent === "1"))
    // He has read the DM to the end: alice sees the receipt.
    await alice.page.click(`#rooms li[data-room-id="${dm}"]`)
    await alice.page.waitForFunction(() => document.querySelector("#members li[data-user=bob]")!.textContent!.includes("read #7"))

    fs.mkdirSync(shots, { recursive: true })
    await bob.page.screenshot({ path: path.join(shots, "demo-bob.png") })
    await alice.page.screenshot({ path: path.join(shots, "demo-alice.png") })
    expect(fs.statSync(path.join(shots, "demo-bob.png")).size).toBeGreaterThan(1000)
    expect([...alice.errors, ...bob.errors]).toEqual([])
  }, 180_000)
})
