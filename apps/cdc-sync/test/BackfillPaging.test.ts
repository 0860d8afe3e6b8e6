import { Observer } from "@converge/core"
import { TestDatabase } from "@converge/testing"
import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as Backfill from "../src/backfill/Backfill.js"
import * as Validation from "../src/config/Validation.js"
import * as DocumentBuilder from "../src/documents/DocumentBuilder.js"
import { postgresSink, sinkDocuments } from "./fixtures/live.js"
import { configYaml, decode } from "./fixtures/shop.js"

describe("Backfill paging", () => {
  layer(TestDatabase.layer, { timeout: 120_000, excludeTestServices: true })("on a fresh database", (it) => {
    it.scoped(
      "pages an integer key in numeric order: every row of a table larger than a page is written",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          // 1..25 sorted as text is 1, 10, 11, …, 19, 2, 20, …: paging on that order skips rows.
          yield* sql.unsafe(`CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);
          INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 25) g`)
          const config = yield* decode(configYaml("  - { name: items, table: items, fields: [id, name] }"))
          const validated = yield* Validation.validate(config)
          const builder = yield* DocumentBuilder.make(validated.plans[0]!)
          const sink = yield* postgresSink
          yield* sink.ensureIndexes([{ name: "items", searchable: [] }])
          const written = yield* Backfill.run(
            builder,
            [sink],
            1n,
            Observer.make(() => Effect.void),
            { pageSize: 10 }
          )
          expect(written).toBe(25)
          const documents = yield* sinkDocuments("items")
          expect(
            Object.keys(documents)
              .map(Number)
              .sort((a, b) => a - b)
          ).toEqual(Array.from({ length: 25 }, (_, i) => i + 1))
        })
    )
  })
})
