import { SqlClient } from "@effect/sql"
import { assert, describe, layer } from "@effect/vitest"
import { Effect, Exit, Layer } from "effect"
import { PgCopy, PgDatabase, SqlState } from "../src/index.js"
import * as TestPostgres from "./fixtures/TestPostgres.js"

const database = Layer.unwrapEffect(
  Effect.map(TestPostgres.TestPostgres, ({ url }) => PgDatabase.layer({ url, poolSize: 2 }))
).pipe(Layer.provideMerge(TestPostgres.layer))

describe("PgCopy", () => {
  layer(database, { excludeTestServices: true })("on a real server", (it) => {
    it.effect("copies rows with every character COPY's text format escapes, and nulls", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const copy = yield* PgCopy.PgCopy
        yield* sql`CREATE TABLE copied (id int PRIMARY KEY, body text, doc jsonb)`
        const bodies = ["plain", "tab\there", "line\nbreak", "back\\slash \\N", "cr\r", "ünïcødé ✓"]
        const data = bodies
          .map((body, i) => PgCopy.textRow([String(i), body, JSON.stringify({ body })]))
          .concat(PgCopy.textRow(["99", null, null]))
          .join("")
        const copied = yield* copy.copyFrom("COPY copied (id, body, doc) FROM STDIN", data)
        assert.strictEqual(copied, bodies.length + 1)
        const rows = yield* sql<{ id: number; body: string | null; doc: { body: string } | null }>`
          SELECT id, body, doc FROM copied ORDER BY id`
        assert.deepStrictEqual(
          rows.map((row) => row.body),
          [...bodies, null]
        )
        assert.deepStrictEqual(
          rows.slice(0, bodies.length).map((row) => row.doc?.body),
          bodies
        )
        assert.isNull(rows[bodies.length]?.doc)
      })
    )

    it.effect(
      "a rejected row fails the whole COPY with its SQLSTATE, writes nothing, and the pool goes on",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const copy = yield* PgCopy.PgCopy
          yield* sql`CREATE TABLE strict_copy (id int PRIMARY KEY, doc jsonb)`
          const data = [PgCopy.textRow(["1", "{}"]), PgCopy.textRow(["2", "{not json"])].join("")
          const failed = yield* Effect.exit(copy.copyFrom("COPY strict_copy (id, doc) FROM STDIN", data))
          assert.isTrue(Exit.isFailure(failed))
          if (Exit.isFailure(failed)) {
            const error = failed.cause._tag === "Fail" ? failed.cause.error : undefined
            assert.strictEqual(SqlState.sqlState(error?.cause), "22P02")
          }
          const [count] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM strict_copy`
          assert.strictEqual(count?.n, 0)
          // Both pooled connections still work (the failed one was replaced).
          for (const id of ["3", "4", "5"]) {
            yield* copy.copyFrom("COPY strict_copy (id, doc) FROM STDIN", PgCopy.textRow([id, "[]"]))
          }
          const [after] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM strict_copy`
          assert.strictEqual(after?.n, 3)
        })
    )

    it.effect("around: the COPY and its statements run in one transaction, all or nothing", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const copy = yield* PgCopy.PgCopy
        yield* sql`CREATE TABLE staged (id int PRIMARY KEY, n int NOT NULL)`
        const around = (after: string) => ({
          before: ["CREATE TEMP TABLE IF NOT EXISTS incoming (id int, n int) ON COMMIT DELETE ROWS"],
          after: [after]
        })
        const data = [PgCopy.textRow(["1", "10"]), PgCopy.textRow(["2", "20"])].join("")
        yield* copy.copyFrom(
          "COPY incoming FROM STDIN",
          data,
          around(
            "INSERT INTO staged SELECT id, n FROM incoming ON CONFLICT (id) DO UPDATE SET n = EXCLUDED.n"
          )
        )
        // The second run's last statement fails: its COPY and everything before are rolled back.
        const failed = yield* Effect.exit(
          copy.copyFrom(
            "COPY incoming FROM STDIN",
            PgCopy.textRow(["3", "30"]),
            around("INSERT INTO staged SELECT id, n / 0 FROM incoming")
          )
        )
        assert.isTrue(Exit.isFailure(failed))
        const rows = yield* sql<{ id: number; n: number }>`SELECT id, n FROM staged ORDER BY id`
        assert.deepStrictEqual(
          rows.map((row) => [row.id, row.n]),
          [
            [1, 10],
            [2, 20]
          ]
        )
      })
    )
  })
})
