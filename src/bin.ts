#!/usr/bin/env node
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"
import { run } from "./cli/Run.js"
import { serveProgram } from "./cli/Serve.js"

/** What `npm start` (dist/main.js) runs: the server, without loading the command line. */
export const runServer = () => run(serveProgram)

// Through npm's `bin` link, argv[1] is the link, not this file.
const isEntry = (script: string | undefined) =>
  script !== undefined && fs.existsSync(script) && fs.realpathSync(script) === fileURLToPath(import.meta.url)

if (isEntry(process.argv[1])) {
  import("./cli/Cli.js").then(({ main }) => run(main(process.argv)))
}
