/**
 * Replicas of a billing app elect one leader through Postgres; only the leader charges, and every
 * charge is fenced with the leader's term in the charge's own transaction, so a write from a
 * deposed leader that arrives late is refused.
 */
import type { LeaderGate } from "@converge/core"
import { PgDatabase, PgLeaderGate } from "@converge/pg"
import { SqlClient } from "@effect/sql"
import { Effect, Layer } from "effect"

// #region gate
/** The advisory lock key that every replica of the billing app shares. */
export const billingLock = 7_300_001

/** A replica's gate: it competes for `billingLock` on the database at `url` for as long as the scope lives. */
export const startGate = (url: string, replica: string) =>
  PgLeaderGate.make({ url, lockKey: billingLock, name: `billing-${replica}` })
// #endregion gate

// #region from-client
/**
 * The gate as a layer on the app's own database, with no URL to pass: it elects wherever the
 * `PgClient` connects, `DATABASE_URL` or the embedded server.
 */
export const BillingLive = PgLeaderGate.layerFromClient({ lockKey: billingLock, name: "billing" }).pipe(
  Layer.provideMerge(PgDatabase.layerFromEnvOrEmbedded({ database: "billing" }))
)
// #endregion from-client

// #region fenced
/** The charges table: which invoice was charged, under which term. */
export const createCharges = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) => sql`CREATE TABLE charges (invoice integer PRIMARY KEY, term integer NOT NULL)`
)

/** Records a charge only if `term` is still the latest: the check and the write share one transaction. */
export const recordCharge = (invoice: number, term: number) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.withTransaction(
      Effect.gen(function* () {
        yield* PgLeaderGate.assertTerm(billingLock, term)
        yield* sql`INSERT INTO charges (invoice, term) VALUES (${invoice}, ${term})`
      })
    )
  )
// #endregion fenced

// #region leader
/**
 * Charges `invoice` once this replica leads, fenced with the term of this leadership:
 * `Some` when done, `None` when leadership was lost first (the charge was then interrupted).
 */
export const chargeAsLeader = (gate: LeaderGate.LeaderGate.Service, invoice: number) =>
  gate.whileLeader(Effect.flatMap(gate.term, (term) => recordCharge(invoice, term)))
// #endregion leader
