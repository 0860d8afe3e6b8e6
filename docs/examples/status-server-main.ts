/**
 * The orders example as a program: `npx tsx examples/status-server-main.ts`. It serves until
 * Ctrl-C, on `CONVERGE_HTTP_PORT` or a free port (printed at start).
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import { start } from "./status-server.js"

const main = start().pipe(Effect.zipRight(Effect.never), Effect.scoped)

NodeRuntime.runMain(main)
