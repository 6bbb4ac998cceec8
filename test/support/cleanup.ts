import { afterAll } from "vitest"
import { removeTempDirs } from "./server.js"

afterAll(removeTempDirs)
