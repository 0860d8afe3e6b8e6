/**
 * The playground's sample world: a desired set and an actual set of items in Postgres.
 * `desired` is what someone asked for; `actual` is what the controller has built so far.
 */
import { SqlClient, type SqlError } from "@effect/sql"
import { Effect, Random } from "effect"

/** One item: an id and how many replicas of it should (or do) exist. */
export type Item = {
  readonly id: string
  readonly replicas: number
}

/** Counts that say how far apart the two sets are. */
export interface Census {
  readonly desired: number
  readonly actual: number
  /** Ids whose actual row is missing, extra or different from the desired one. */
  readonly differing: number
}

/** Creates the two tables if they do not exist. */
export const migrate = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE IF NOT EXISTS playground_desired (id text PRIMARY KEY, replicas int NOT NULL)`
  yield* sql`CREATE TABLE IF NOT EXISTS playground_actual (id text PRIMARY KEY, replicas int NOT NULL)`
})

/** Every id present in either set: what a resync must look at. */
export const listIds: Effect.Effect<
  ReadonlyArray<string>,
  SqlError.SqlError,
  SqlClient.SqlClient
> = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ id: string }>`
      SELECT id FROM playground_desired UNION SELECT id FROM playground_actual ORDER BY id`
  return rows.map((row) => row.id)
})

/** The desired and actual rows of one id. */
export const read = (id: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const desired = yield* sql<Item>`SELECT id, replicas FROM playground_desired WHERE id = ${id}`
    const actual = yield* sql<Item>`SELECT id, replicas FROM playground_actual WHERE id = ${id}`
    return { desired: desired[0], actual: actual[0] }
  })

/** Makes the actual row of `item.id` equal to `item`. */
export const writeActual = (item: Item) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => sql`
      INSERT INTO playground_actual (id, replicas) VALUES (${item.id}, ${item.replicas})
      ON CONFLICT (id) DO UPDATE SET replicas = EXCLUDED.replicas`
  )

/** Removes the actual row of `id`. */
export const deleteActual = (id: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql`DELETE FROM playground_actual WHERE id = ${id}`)

/** Replaces the desired set with `count` items (`item-001` …) of 1–5 replicas each. */
export const seed = (count: number) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const items: Array<Item> = []
    for (let index = 1; index <= count; index++) {
      items.push({ id: itemId(index), replicas: yield* Random.nextIntBetween(1, 6) })
    }
    yield* sql.withTransaction(
      Effect.gen(function* () {
        yield* sql`DELETE FROM playground_desired`
        if (items.length > 0) yield* sql`INSERT INTO playground_desired ${sql.insert(items)}`
      })
    )
    return items.map((item) => item.id)
  })

/**
 * Changes the desired set a little, as users would: resizes one item, adds one, removes one
 * (ids stay within `1..2 × size`). Returns the ids it touched.
 */
export const churn = (size: number) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const resized = itemId(yield* Random.nextIntBetween(1, size + 1))
    const added = itemId(yield* Random.nextIntBetween(size + 1, 2 * size + 1))
    const removed = itemId(yield* Random.nextIntBetween(1, 2 * size + 1))
    const replicas = yield* Random.nextIntBetween(1, 6)
    yield* sql`UPDATE playground_desired SET replicas = ${replicas} WHERE id = ${resized}`
    yield* sql`INSERT INTO playground_desired (id, replicas) VALUES (${added}, ${replicas}) ON CONFLICT DO NOTHING`
    yield* sql`DELETE FROM playground_desired WHERE id = ${removed}`
    return [resized, added, removed]
  })

/** How far apart the two sets are right now. */
export const census: Effect.Effect<Census, SqlError.SqlError, SqlClient.SqlClient> = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ desired: number; actual: number; differing: number }>`
    SELECT
      (SELECT count(*) FROM playground_desired)::int AS desired,
      (SELECT count(*) FROM playground_actual)::int AS actual,
      (SELECT count(*) FROM playground_desired d FULL JOIN playground_actual a USING (id)
        WHERE d.replicas IS DISTINCT FROM a.replicas)::int AS differing`
  return rows[0] ?? { desired: 0, actual: 0, differing: 0 }
})

const itemId = (index: number) => `item-${String(index).padStart(3, "0")}`
