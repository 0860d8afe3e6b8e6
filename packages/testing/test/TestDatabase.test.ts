import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Redacted, Scope } from "effect"
import { TestDatabase } from "../src/index.js"

const query = <A>(url: string, f: (sql: SqlClient.SqlClient) => Effect.Effect<A, unknown>) =>
  Effect.flatMap(SqlClient.SqlClient, f).pipe(
    Effect.provide(PgClient.layer({ url: Redacted.make(url), maxConnections: 1 }))
  )

describe("TestDatabase", () => {
  it.layer(TestDatabase.layer)("layer", (it) => {
    it.effect("connects the SqlClient to a real server, in the file's own database", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const database = yield* TestDatabase.TestDatabase
        const rows = yield* sql<{ answer: number; database: string }>`
          select 6 * 7 as answer, current_database() as database`
        assert.deepStrictEqual(rows, [{ answer: 42, database: database.name }])
        assert.match(database.name, /^converge_test_[0-9a-f]{12}$/)
        assert.strictEqual(new URL(database.url).pathname, `/${database.name}`)
      })
    )
  })

  it.scoped("gives two databases made at the same time different names and separate tables", () =>
    Effect.gen(function* () {
      const first = yield* TestDatabase.make
      const second = yield* TestDatabase.make
      assert.notStrictEqual(first.name, second.name)
      yield* query(first.url, (sql) => sql`create table only_in_first (id int)`)
      const tables = yield* query(
        second.url,
        (sql) =>
          sql<{
            count: number
          }>`select count(*)::int as count from pg_tables where tablename = 'only_in_first'`
      )
      assert.deepStrictEqual(tables, [{ count: 0 }])
    })
  )

  it.effect("drops its database when the scope closes, even with a logical replication slot in it", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const database = yield* TestDatabase.make.pipe(Scope.extend(scope))
      yield* query(
        database.url,
        (sql) => sql`select pg_create_logical_replication_slot(${`${database.name}_slot`}, 'pgoutput')`
      )
      yield* Scope.close(scope, Exit.void)
      const server = yield* TestDatabase.serverUrl
      const left = yield* query(
        server,
        (sql) => sql<{ databases: number; slots: number }>`
          select (select count(*)::int from pg_database where datname = ${database.name}) as databases,
                 (select count(*)::int from pg_replication_slots where database = ${database.name}) as slots`
      )
      assert.deepStrictEqual(left, [{ databases: 0, slots: 0 }])
    })
  )
})
