import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import * as crypto from "node:crypto"
import { retryDelay, sign, webhookHeaders } from "../../src/services/Webhooks.js"
import { isPrivateAddress, refuseUrl } from "../../src/webhooks/Guard.js"

describe("webhook retries", () => {
  it.effect("wait about RETRY_INTERVAL × 2^(n-1), jittered within 0.8-1.2×, and at most an hour", () =>
    Effect.gen(function*() {
      const base = Duration.millis(1000)
      for (let attempts = 1; attempts <= 8; attempts++) {
        for (let sample = 0; sample < 20; sample++) {
          const ms = Duration.toMillis(yield* retryDelay(base, attempts))
          const nominal = 1000 * 2 ** (attempts - 1)
          assert.isTrue(ms >= 0.8 * nominal && ms <= 1.2 * nominal, `attempt ${attempts}: ${ms} ms is not within 0.8-1.2 × ${nominal}`)
        }
      }
      assert.strictEqual(Duration.toMillis(yield* retryDelay(base, 40)), 3_600_000)
    }))

  it.effect("jitter spreads the delays of one attempt", () =>
    Effect.gen(function*() {
      const delays = new Set<number>()
      for (let i = 0; i < 20; i++) delays.add(Math.round(Duration.toMillis(yield* retryDelay(Duration.seconds(1), 3))))
      assert.isAbove(delays.size, 5)
    }))
})

describe("webhook signatures", () => {
  it("sign timestamp.body with HMAC-SHA256 under the secret, and carry the same delivery id on every attempt", () => {
    const body = JSON.stringify({ id: "wh_1", type: "message.offline" })
    const expected = crypto.createHmac("sha256", "s3cret-s3cret-s3cret").update(`1700000000.${body}`).digest("hex")
    assert.strictEqual(sign("s3cret-s3cret-s3cret", 1_700_000_000, body), `v1=${expected}`)
    assert.notStrictEqual(sign("another-secret-value", 1_700_000_000, body), `v1=${expected}`)
    const first = webhookHeaders("s3cret-s3cret-s3cret", { deliveryId: "wh_1", event: "message.offline", attempt: 1, body }, 1_700_000_000_500)
    const third = webhookHeaders("s3cret-s3cret-s3cret", { deliveryId: "wh_1", event: "message.offline", attempt: 3, body }, 1_700_000_900_000)
    assert.deepStrictEqual([first["x-chatapi-delivery"], first["x-chatapi-attempt"], first["x-chatapi-timestamp"]], ["wh_1", "1", "1700000000"])
    assert.deepStrictEqual([third["x-chatapi-delivery"], third["x-chatapi-attempt"]], ["wh_1", "3"])
    assert.strictEqual(first["x-chatapi-signature"], `v1=${expected}`)
  })
})

describe("webhook address guard", () => {
  it("knows loopback, private, link-local and mapped addresses from public ones", () => {
    for (const a of ["127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "::1", "::", "fc00::1", "fe80::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1"]) {
      assert.isTrue(isPrivateAddress(a), a)
    }
    for (const a of ["8.8.8.8", "172.32.0.1", "93.184.216.34", "2606:4700::1111", "::ffff:8.8.8.8"]) assert.isFalse(isPrivateAddress(a), a)
  })

  it("refuses non-http schemes, credentials and private hosts unless private addresses are allowed", () => {
    assert.isDefined(refuseUrl("ftp://example.com/hook", true))
    assert.isDefined(refuseUrl("https://user:pass@example.com/hook", true))
    assert.isDefined(refuseUrl("not a url", true))
    for (const url of ["http://127.0.0.1:8080/h", "http://localhost/h", "http://api.localhost/h", "http://[::1]/h", "http://10.0.0.5/h"]) {
      assert.isDefined(refuseUrl(url, false), url)
      assert.isUndefined(refuseUrl(url, true), url)
    }
    assert.isUndefined(refuseUrl("https://hooks.example.com/chatapi", false))
  })
})
