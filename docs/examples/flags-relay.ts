/**
 * The flag relay as a program, next to a local FDv2 server:
 *
 *   npx converge-flags serve-fdv2 --port 8030 &
 *   node --import tsx examples/flags-relay.ts http://127.0.0.1:8030
 *
 * It serves the flags API on port 8040 and the status server on 9464 until Ctrl-C.
 */
import { Relay } from "@converge/flag-orchestrator"
import { NodeMain } from "@converge/http"
import { Effect } from "effect"

const upstream = process.argv[2] ?? "http://127.0.0.1:8030"

const main = Relay.run({ upstream, port: 8040, statusPort: 9464, cacheFile: "flags-cache.json" }).pipe(
  Effect.catchTag("RelayConfigError", (error) => Effect.logError(error.message))
)

NodeMain.runMain(main)
