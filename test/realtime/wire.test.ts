import { describe, expect, it } from "vitest"
import { createRequire } from "node:module"
import { textFrame } from "../../src/realtime/Wire.js"

// The ws package exports its frame parser, though its type declarations leave it out.
const { Receiver } = createRequire(import.meta.url)("ws") as { Receiver: new(options: { isServer: boolean }) => NodeJS.WritableStream }

/** Parses server frames as a client does, with the `ws` library's own receiver. */
const receive = (bytes: Buffer) =>
  new Promise<Array<string>>((resolve, reject) => {
    const got: Array<string> = []
    const receiver = new Receiver({ isServer: false })
    receiver.on("message", (data: Buffer, isBinary: boolean) => {
      if (isBinary) reject(new Error("binary frame"))
      got.push(data.toString("utf8"))
    })
    receiver.on("error", reject)
    receiver.write(bytes, () => resolve(got))
  })

describe("textFrame", () => {
  it("encodes text frames of every length form (7-bit, 16-bit, 64-bit) that a client reads back exactly", async () => {
    const texts = [
      "",
      "x".repeat(125),
      "é".repeat(63),
      "y".repeat(126),
      "z".repeat(65_535),
      "w".repeat(65_536),
      JSON.stringify({ type: "message", content: "日本語 🎉" })
    ]
    const got = await receive(Buffer.concat(texts.map(textFrame)))
    expect(got).toEqual(texts)
  })
})
