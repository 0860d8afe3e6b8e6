import { SqlClient } from "@effect/sql"
import { Effect, Schema } from "effect"
import * as Api from "../src/Api.js"
import type { WorkerOutcome } from "../src/Model.js"
import { callApi } from "./cliHarness.js"

const ClaimResponse = Schema.Struct({ executions: Schema.Array(Api.ClaimedExecution) })

/** A worker's client of one or more engines' APIs: claim and complete, by outcome of the execution's name. */
export interface Worker {
  /** Claims up to `limit` executions on `engine` and completes each; returns how many it completed. */
  readonly workOnce: (engine: { readonly apiUrl: string }, limit: number) => Effect.Effect<number>
  /** Completes every execution left `running` (claimed by an earlier, killed life of this worker). */
  readonly finishLeftovers: (engine: {
    readonly apiUrl: string
  }) => Effect.Effect<number, never, SqlClient.SqlClient>
}

/** Completing an execution: a 409 means it already ended (a crash after the commit, before the answer). */
const complete = (engine: { readonly apiUrl: string }, id: string, outcome: WorkerOutcome) =>
  callApi(engine, "POST", `/executions/${id}/complete`, { outcome }).pipe(
    Effect.flatMap((response) =>
      response.status === 200 || response.status === 409
        ? Effect.succeed(response.status === 200)
        : Effect.dieMessage(`complete ${id} answered ${response.status}: ${JSON.stringify(response.body)}`)
    )
  )

/** A worker that reports `outcomeOf(name)` for every execution it completes. */
export const make = (outcomeOf: (name: string) => WorkerOutcome): Worker => ({
  workOnce: (engine, limit) =>
    Effect.gen(function* () {
      const claimed = yield* callApi(engine, "POST", "/executions/claim", { limit })
      if (claimed.status !== 200) return yield* Effect.dieMessage(`claim answered ${claimed.status}`)
      const { executions } = Schema.decodeUnknownSync(ClaimResponse)(claimed.body)
      let completed = 0
      for (const execution of executions) {
        if (yield* complete(engine, execution.id, outcomeOf(execution.name))) completed++
      }
      return completed
    }),
  finishLeftovers: (engine) =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const running = yield* sql<{ readonly id: string; readonly name: string }>`
        SELECT id::text AS id, name FROM deps_executions WHERE state = 'running' ORDER BY id`.pipe(
        Effect.orDie
      )
      let completed = 0
      for (const execution of running) {
        if (yield* complete(engine, execution.id, outcomeOf(execution.name))) completed++
      }
      return completed
    })
})
