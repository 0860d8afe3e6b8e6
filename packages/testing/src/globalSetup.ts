/**
 * Vitest global setup: one Postgres server for the whole test run, handed to test files through
 * `inject`. Reference it from a package's vitest.config.ts:
 *
 * ```ts
 * test: { globalSetup: ["@converge/testing/globalSetup"] }
 * ```
 *
 * With `CONVERGE_TEST_DATABASE_URL` set, that server is used and nothing is started; otherwise an
 * embedded server (not durable: fsync off) starts before the first test file and stops after the
 * last. Each test file then gets its own database from `TestDatabase`.
 */
import { EmbeddedPostgres } from "@converge/pg"
import { Config, Effect, Exit, Option, Scope } from "effect"
import type { TestProject } from "vitest/node"
import { databaseUrlKey } from "./internal/provided.js"

/** Starts (or picks) the run's server, provides its URL, and returns the teardown that stops it. */
export default function setup(project: TestProject): Promise<() => Promise<void>> {
  return Effect.runPromise(
    Effect.gen(function* () {
      const external = yield* Config.option(Config.nonEmptyString("CONVERGE_TEST_DATABASE_URL"))
      if (Option.isSome(external)) {
        project.provide(databaseUrlKey, external.value)
        return () => Promise.resolve()
      }
      const scope = yield* Scope.make()
      const server = yield* EmbeddedPostgres.make({ durable: false }).pipe(
        Scope.extend(scope),
        Effect.onError((cause) => Scope.close(scope, Exit.failCause(cause)))
      )
      project.provide(databaseUrlKey, server.url)
      return () => Effect.runPromise(Scope.close(scope, Exit.void))
    })
  )
}
