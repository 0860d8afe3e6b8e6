import { TestDatabase } from "@converge/testing"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import * as Validation from "../src/config/Validation.js"
import { configYaml, createShop, decode, ordersIndexYaml } from "./fixtures/shop.js"

const validate = (text: string) => Effect.flatMap(decode(text), Validation.validate)
const problemsOf = (text: string) =>
  validate(text).pipe(
    Effect.flip,
    Effect.map((error) => (error._tag === "ConfigInvalid" ? error : Effect.runSync(Effect.die(error))))
  )

const shop = Layer.provideMerge(Layer.effectDiscard(createShop), TestDatabase.layer)

const publicationsAndSlots = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const [row] = yield* sql<{ readonly publications: number; readonly slots: number }>`
    SELECT (SELECT count(*)::int FROM pg_publication) AS publications,
           (SELECT count(*)::int FROM pg_replication_slots WHERE database = current_database()) AS slots`
  return row
})

describe("Validation", () => {
  it.layer(shop)("against the shop schema", (it) => {
    it.effect("resolves every relation kind into a plan and writes nothing", () =>
      Effect.gen(function* () {
        const before = yield* publicationsAndSlots
        const validated = yield* validate(configYaml(ordersIndexYaml))
        const [plan] = validated.plans
        expect(plan?.primaryKey).toEqual({ name: "id", type: "integer" })
        expect(plan?.softDelete?.name).toBe("deleted_at")
        expect(plan?.root.fields.map((c) => c.name)).toEqual(["id", "status", "total"])
        expect(plan?.root.relations.map((r) => [r.name, r.kind])).toEqual([
          ["customer", "belongs_to"],
          ["items", "has_many"],
          ["tags", "many_to_many"]
        ])
        expect(validated.tables.map((t) => t.display).sort()).toEqual([
          "public.customers",
          "public.order_items",
          "public.order_tags",
          "public.orders",
          "public.profiles",
          "public.tags"
        ])
        expect(validated.publication).toMatchObject({ exists: false })
        expect(validated.publication.missing).toHaveLength(6)
        expect(yield* publicationsAndSlots).toEqual(before)
      })
    )

    it.effect("fields default to every column of the table", () =>
      Effect.gen(function* () {
        const validated = yield* validate(configYaml("  - { name: customers, table: customers }"))
        expect(validated.plans[0]?.root.fields).toEqual([
          { name: "id", type: "integer" },
          { name: "name", type: "text" },
          { name: "email", type: "text" }
        ])
      })
    )

    it.effect("an unknown table or column names the place, the problem and the fix", () =>
      Effect.gen(function* () {
        const error = yield* problemsOf(
          configYaml(`
  - name: orders
    table: orders
    fields: [id, colour]
    relations:
      items: { kind: has_many, table: order_lines, foreign_key: order_id }
      customer: { kind: belongs_to, table: customers, foreign_key: client_id }
`)
        )
        expect(error.problems).toEqual([
          {
            at: "indexes.0.fields.1",
            problem: 'unknown column "colour" in table "public.orders"',
            fix: "use one of its columns: id, customer_id, status, total, deleted_at"
          },
          expect.objectContaining({
            at: "indexes.0.relations.items.table",
            problem: 'unknown table "order_lines"'
          }),
          expect.objectContaining({
            at: "indexes.0.relations.customer.foreign_key",
            problem: 'unknown column "client_id" in table "public.orders"'
          })
        ])
        expect(error.message).toContain("nothing was written")
        expect(error.message).toContain("fix: use one of its columns")
      })
    )

    it.effect("a missing or composite primary key asks for primary_key", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE events (at timestamptz, payload jsonb)`
        const none = yield* problemsOf(configYaml("  - { name: events, table: events }"))
        expect(none.problems[0]).toMatchObject({
          at: "indexes.0.primary_key",
          problem: 'table "public.events" has no primary key, so the document id is unknown'
        })
        expect(none.problems[0]?.fix).toContain("primary_key")
        const composite = yield* problemsOf(configYaml("  - { name: order_tags, table: order_tags }"))
        expect(composite.problems[0]?.problem).toContain("a composite primary key")
      })
    )

    it.effect("a relation that does not resolve: incomparable types, a view, a bad search path", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE notes (id int PRIMARY KEY, order_ref text NOT NULL, body text)`
        yield* sql`ALTER TABLE notes REPLICA IDENTITY FULL`
        yield* sql`CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100`
        const error = yield* problemsOf(
          configYaml(`
  - name: orders
    table: orders
    searchable: [notes.body, customer.name]
    relations:
      notes: { kind: has_many, table: notes, foreign_key: order_ref }
  - { name: big, table: big_orders }
`)
        )
        expect(error.problems.map((p) => [p.at, p.problem])).toEqual([
          [
            "indexes.0.relations.notes.foreign_key",
            'the relation joins "id" (integer) to "order_ref" (text), which cannot be compared'
          ],
          ["indexes.0.searchable.0", '"notes.body" is not a field of the document'],
          ["indexes.0.searchable.1", '"customer.name" is not a field of the document'],
          ["indexes.1.table", '"public.big_orders" is not a table (views and others cannot be replicated)']
        ])
      })
    )

    it.effect(
      "a child table without the parent key in its old row image must log it (REPLICA IDENTITY FULL)",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          yield* sql`CREATE TABLE shipments (id int PRIMARY KEY, order_id int NOT NULL)`
          const error = yield* problemsOf(
            configYaml(`
  - name: orders
    table: orders
    relations:
      shipments: { kind: has_many, table: shipments, foreign_key: order_id }
`)
          )
          expect(error.problems).toEqual([
            {
              at: "indexes.0.relations.shipments.table",
              problem:
                'table "public.shipments" does not log "order_id" in its old row image, so a row moved to another parent or deleted would leave the old parent\'s document stale',
              fix: 'ALTER TABLE "public"."shipments" REPLICA IDENTITY FULL;'
            }
          ])
        })
    )

    it.effect("a slot on another plugin is refused", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        yield* sql`SELECT pg_create_logical_replication_slot('decoding_slot', 'test_decoding')`
        const error = yield* problemsOf(
          configYaml("  - { name: tags, table: tags }").replace("slot: shop_slot", "slot: decoding_slot")
        )
        expect(error.problems).toEqual([
          expect.objectContaining({
            at: "source.slot",
            problem:
              'replication slot "decoding_slot" exists with plugin test_decoding; this sync reads pgoutput'
          })
        ])
        yield* sql`SELECT pg_drop_replication_slot('decoding_slot')`
      })
    )

    it.effect("a publication without every operation, or lacking tables with manage_publication off", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE PUBLICATION shop_pub FOR TABLE tags WITH (publish = 'insert, update')`
        const error = yield* problemsOf(
          configYaml(
            "  - { name: customers, table: customers }\n  - { name: tags, table: tags }",
            "  manage_publication: false"
          )
        )
        expect(error.problems).toEqual([
          {
            at: "source.publication",
            problem:
              'publication "shop_pub" does not publish every operation (insert, update, delete, truncate)',
            fix: `ALTER PUBLICATION "shop_pub" SET (publish = 'insert, update, delete, truncate');`
          },
          {
            at: "source.publication",
            problem: 'publication "shop_pub" lacks "public.customers" (manage_publication is off)',
            fix: 'as an owner or a superuser: ALTER PUBLICATION "shop_pub" ADD TABLE "public"."customers";'
          }
        ])
        // With manage_publication on, the superuser may extend it: only the operations remain.
        const managed = yield* problemsOf(
          configYaml("  - { name: customers, table: customers }\n  - { name: tags, table: tags }")
        )
        expect(managed.problems.map((p) => p.problem)).toEqual([
          'publication "shop_pub" does not publish every operation (insert, update, delete, truncate)'
        ])
        yield* sql`DROP PUBLICATION shop_pub`
      })
    )

    it.effect("a role that may not extend the publication gets the SQL to run, and nothing is written", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const database = yield* TestDatabase.TestDatabase
        const role = `cdc_reader_${database.name.slice(-6)}`
        yield* sql`CREATE PUBLICATION shop_pub FOR TABLE tags`
        yield* sql.unsafe(`CREATE ROLE ${role} LOGIN PASSWORD 'reader'`)
        const url = new URL(database.url)
        url.username = role
        url.password = "reader"
        const asReader = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient>) =>
          effect.pipe(Effect.provide(PgClient.layer({ url: Redacted.make(url.toString()) })))
        const error = yield* asReader(
          problemsOf(configYaml("  - { name: customers, table: customers }\n  - { name: tags, table: tags }"))
        )
        expect(error.problems).toEqual([
          {
            at: "source",
            problem: `role "${role}" may not use replication`,
            fix: `ALTER ROLE "${role}" REPLICATION; (as a superuser), or connect as a role that has it`
          },
          {
            at: "source.publication",
            problem: `publication "shop_pub" lacks "public.customers", and role "${role}" may not add them (it must own the publication and the tables)`,
            fix: 'as an owner or a superuser: ALTER PUBLICATION "shop_pub" ADD TABLE "public"."customers";'
          }
        ])
        const [tables] = yield* sql<{ readonly count: number }>`
          SELECT count(*)::int AS count FROM pg_publication_tables WHERE pubname = 'shop_pub'`
        expect(tables?.count).toBe(1)
        yield* sql`DROP PUBLICATION shop_pub`
        yield* sql.unsafe(`DROP ROLE ${role}`)
      })
    )
  })
})
