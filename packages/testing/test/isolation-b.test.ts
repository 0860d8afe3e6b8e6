// Runs with isolation-a.test.ts: both create the same table WITHOUT "if not exists",
// which only works if each file has a database of its own.
import { SqlClient } from "@effect/sql"
import { assert, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestDatabase } from "../src/index.js"

it.layer(TestDatabase.layer)("isolation B", (it) => {
  it.effect("has a database of its own", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const serverDatabase = new URL(yield* TestDatabase.serverUrl).pathname.slice(1)
      yield* sql`create table isolation_probe (written_by text not null)`
      yield* sql`insert into isolation_probe values ('b')`
      const rows = yield* sql<{ database: string; count: number }>`
        select current_database() as database, (select count(*)::int from isolation_probe) as count`
      assert.strictEqual(rows.length, 1)
      assert.notStrictEqual(rows[0]?.database, serverDatabase)
      assert.strictEqual(rows[0]?.count, 1)
    })
  )
})
