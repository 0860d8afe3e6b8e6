import * as Net from "node:net"
import { Effect } from "effect"

/**
 * Asks the OS for a TCP port that is free on `host` right now. Another process may take it
 * before we bind it, so callers retry on "address in use".
 */
export const freePort = (host: string): Effect.Effect<number, Error> =>
  Effect.async<number, Error>((resume) => {
    const server = Net.createServer()
    server.unref()
    server.once("error", (error) => resume(Effect.fail(error)))
    server.listen(0, host, () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resume(Effect.succeed(port)))
    })
  })
