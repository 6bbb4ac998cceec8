import { HttpLayerRouter, HttpServerResponse } from "@effect/platform"
import { Effect, Layer } from "effect"
import * as fs from "node:fs"

/** The page's source and its script, bundled with the SDK by `npm run build` (esbuild). */
const files = {
  html: new URL("../../demo/index.html", import.meta.url),
  script: new URL("../demo/app.js", import.meta.url)
}

const read = (url: URL) =>
  Effect.try({
    try: () => fs.readFileSync(url, "utf8"),
    catch: () => new Error(`DEMO=1 needs ${url.pathname}: run \`npm run build\``)
  }).pipe(Effect.orDie)

const headers = {
  "cache-control": "no-store",
  // Nothing leaves the server's own origin: no CDN, no third-party script.
  "content-security-policy": "default-src 'self'; connect-src 'self' ws: wss:; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
  "x-content-type-options": "nosniff"
}

/** `GET /demo` (the page) and `GET /demo/app.js` (its script, the SDK included). */
export const DemoPageRoute = Layer.unwrapEffect(
  Effect.gen(function*() {
    const html = yield* read(files.html)
    const script = yield* read(files.script)
    const page = HttpServerResponse.text(html, { contentType: "text/html; charset=utf-8", headers })
    return Layer.mergeAll(
      HttpLayerRouter.add("GET", "/demo", page),
      HttpLayerRouter.add("GET", "/demo/app.js", HttpServerResponse.text(script, { contentType: "text/javascript; charset=utf-8", headers }))
    )
  })
)
