/** Runs `examples/cdc-custom-sink.ts` against a real database: backfill, live changes, /status and /metrics. */
import { TestDatabase } from "@converge/testing"
import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Layer, Schedule } from "effect"
import * as CdcExample from "../examples/cdc-custom-sink.js"

const blog = Layer.provideMerge(
  Layer.effectDiscard(
    Effect.flatMap(SqlClient.SqlClient, (sql) =>
      sql.unsafe(`
        CREATE TABLE posts (id int PRIMARY KEY, title text NOT NULL);
        CREATE TABLE comments (id int PRIMARY KEY, post_id int NOT NULL REFERENCES posts(id), body text NOT NULL);
        ALTER TABLE comments REPLICA IDENTITY FULL;
        INSERT INTO posts VALUES (1, 'Hello'), (2, 'Second');
        INSERT INTO comments VALUES (10, 1, 'first!');
      `)
    )
  ),
  TestDatabase.layer
)

const eventually = <A, E, R>(check: Effect.Effect<A, E, R>) =>
  check.pipe(Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo("60 seconds"))), Effect.orDie)

describe("cdc-custom-sink", () => {
  layer(blog, { timeout: 120_000, excludeTestServices: true })("on a blog", (it) => {
    it.scoped(
      "backfills into the memory sink, follows live changes (a moved comment updates both posts), and serves /status and /metrics",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const database = yield* TestDatabase.TestDatabase
          const { statusUrl, documents } = yield* CdcExample.startSync(database.url)
          yield* eventually(
            Effect.flatMap(documents, (current) =>
              Effect.try(() =>
                expect(Object.fromEntries(current)).toEqual({
                  "posts/1": { id: 1, title: "Hello", comments: [{ body: "first!" }] },
                  "posts/2": { id: 2, title: "Second", comments: [] }
                })
              )
            )
          )
          yield* sql`INSERT INTO comments VALUES (11, 1, 'second')`
          yield* sql`UPDATE comments SET post_id = 2 WHERE id = 10`
          yield* sql`INSERT INTO posts VALUES (3, 'Third')`
          yield* eventually(
            Effect.flatMap(documents, (current) =>
              Effect.try(() =>
                expect(Object.fromEntries(current)).toEqual({
                  "posts/1": { id: 1, title: "Hello", comments: [{ body: "second" }] },
                  "posts/2": { id: 2, title: "Second", comments: [{ body: "first!" }] },
                  "posts/3": { id: 3, title: "Third", comments: [] }
                })
              )
            )
          )
          const status = yield* Effect.tryPromise(() =>
            fetch(`${statusUrl}/status`).then((response) => response.json())
          )
          expect(status).toMatchObject({ phase: "live", indexes: { posts: "seeded" }, errors: 0 })
          const metrics = yield* Effect.tryPromise(() =>
            fetch(`${statusUrl}/metrics`).then((response) => response.text())
          )
          expect(metrics).toMatch(/^converge_cdc_changes_committed_total [1-9]/m)
          expect(metrics).toContain("converge_cdc_flush_seconds_bucket")
        }),
      120_000
    )
  })
})
