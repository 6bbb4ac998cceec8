import { runServer } from "./bin.js"

runServer()
