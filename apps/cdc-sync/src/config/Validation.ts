/**
 * `validate-config`: the decoded configuration checked against the live source database, reading
 * only. Every index is resolved into an `IndexPlan` and the server is checked (wal_level, role,
 * slot, publication); all problems are reported together in one `ConfigInvalid`.
 */
import type { SqlClient, SqlError } from "@effect/sql"
import { Effect, Option } from "effect"
import * as IndexPlan from "../schema/IndexPlan.js"
import * as Resolve from "../schema/Resolve.js"
import * as SourceChecks from "../source/SourceChecks.js"
import type { CdcConfig } from "./CdcConfig.js"
import * as Problem from "./Problem.js"

/** A configuration that fits the database: its resolved indexes and the publication's state. */
export interface Validated {
  readonly config: CdcConfig
  readonly plans: ReadonlyArray<IndexPlan.IndexPlan>
  /** Every table the indexes read, once each. */
  readonly tables: ReadonlyArray<IndexPlan.IndexPlan["root"]["table"]>
  readonly publication: SourceChecks.PublicationState
}

/** Checks `config` against the database; fails with every problem found. Writes nothing. */
export const validate = (
  config: CdcConfig
): Effect.Effect<Validated, Problem.ConfigInvalid | SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const lookup = yield* Resolve.cachedLookup
    const problems: Array<Problem.Problem> = []
    const plans: Array<IndexPlan.IndexPlan> = []
    for (const [i, index] of config.indexes.entries()) {
      const plan = yield* Resolve.resolveIndex(index, `indexes.${i}`, config.onError, lookup, problems)
      if (Option.isSome(plan)) plans.push(plan.value)
    }
    const tables = [
      ...new Map(plans.flatMap(IndexPlan.tables).map((table) => [table.display, table])).values()
    ]
    const report = yield* SourceChecks.check(config.source, tables)
    problems.push(...report.problems)
    if (problems.length > 0) return yield* new Problem.ConfigInvalid({ problems })
    return { config, plans, tables, publication: report.publication }
  })
