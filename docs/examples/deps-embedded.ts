/**
 * The dependency reconciler inside your own program: the engine (migrations, push dispatcher,
 * sweeper) and the HTTP API on your database, plus a flow staged and worked in-process.
 */
import { Claims, Completion, Engine, Policy, Server, Staging } from "@converge/dependency-reconciler"
import { type Migrations, PgDatabase } from "@converge/pg"
import type { ServeError } from "@effect/platform/HttpServerError"
import type { SqlClient, SqlError } from "@effect/sql"
import type { PgClient } from "@effect/sql-pg"
import { type ConfigError, Context, Effect, Layer, type Scope } from "effect"

// #region engine
/**
 * Runs the engine and its API on `DATABASE_URL` (or an embedded Postgres) for the scope's
 * lifetime and returns the API's URL.
 */
export const startEngine: Effect.Effect<
  string,
  Migrations.MigrationFailed | ServeError | ConfigError.ConfigError,
  Scope.Scope | PgClient.PgClient | SqlClient.SqlClient
> = Effect.gen(function* () {
  yield* Engine.run({ sweepInterval: "1 second", staleThresholdMs: 1000 })
  const servers = yield* Layer.build(Server.layer({ port: 0, statusPort: 0 }))
  return Context.get(servers, Server.ApiServer).url
})
// #endregion engine

// #region in-process
/**
 * Stages a fan-in whose downstream needs two of three upstreams, then completes them as a
 * worker would: claim, then complete. The engine started above carries the cascade.
 */
export const stageAndWork = Effect.gen(function* () {
  const flow = yield* Staging.stage({
    namespace: "votes",
    instanceTag: "local",
    executions: [
      { name: "a" },
      { name: "b" },
      { name: "c" },
      { name: "tally", policy: Policy.quorum(2), onSatisfied: "cancel_remaining" }
    ],
    edges: [
      { upstream: "a", downstream: "tally" },
      { upstream: "b", downstream: "tally" },
      { upstream: "c", downstream: "tally" }
    ]
  })
  const claimed = yield* Claims.claimRunnable(2)
  for (const execution of claimed) yield* Completion.complete(execution.id, "succeeded")
  // Two successes satisfy quorum(2): `tally` becomes runnable and the third vote is cancelled.
  return flow
})
// #endregion in-process

// #region program
/** The whole program on `DATABASE_URL`, else a temporary embedded Postgres. */
export const program: Effect.Effect<
  Staging.StagedFlow,
  | PgDatabase.FromEnvOrEmbeddedError
  | Migrations.MigrationFailed
  | ServeError
  | ConfigError.ConfigError
  | Staging.StagingError
  | SqlError.SqlError
  | Completion.ExecutionNotLive
> = Effect.gen(function* () {
  const url = yield* startEngine
  yield* Effect.logInfo(`API at ${url}`)
  return yield* stageAndWork
}).pipe(Effect.scoped, Effect.provide(PgDatabase.layerFromEnvOrEmbedded()))
// #endregion program
