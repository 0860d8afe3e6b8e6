import { TestDatabase } from "@converge/testing"
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as Validation from "../src/config/Validation.js"
import * as DocumentBuilder from "../src/documents/DocumentBuilder.js"
import { configYaml, createShop, decode, ordersIndexYaml, seedShop } from "./fixtures/shop.js"

const shop = Layer.provideMerge(
  Layer.effectDiscard(Effect.zipRight(createShop, seedShop)),
  TestDatabase.layer
)

const builderFor = (indexesYaml: string) =>
  Effect.gen(function* () {
    const validated = yield* decode(configYaml(indexesYaml)).pipe(Effect.flatMap(Validation.validate))
    return yield* DocumentBuilder.make(validated.plans[0]!)
  })

const parsed = (built: DocumentBuilder.Built) =>
  Object.fromEntries(built.documents.map((document) => [document.id, JSON.parse(document.json)]))

describe("DocumentBuilder", () => {
  it.layer(shop)("on the shop", (it) => {
    it.effect("builds nested documents for every relation kind in one query", () =>
      Effect.gen(function* () {
        const builder = yield* builderFor(ordersIndexYaml)
        const built = yield* builder.build(["100", "101", "103", "100"])
        expect(parsed(built)).toEqual({
          "100": {
            id: 100,
            status: "paid",
            total: 10.5,
            customer: { id: 1, name: "Ada", profile: { bio: "math" } },
            // has_many ordered by position, cut at limit 2
            items: [
              { sku: "B", qty: 2 },
              { sku: "A", qty: 1 }
            ],
            // many_to_many ordered by label desc
            tags: [{ label: "red" }, { label: "blue" }]
          },
          "101": {
            id: 101,
            status: "open",
            total: null,
            customer: { id: 2, name: "Bob", profile: null },
            items: [{ sku: "D", qty: 1 }],
            tags: [{ label: "green" }]
          },
          "103": { id: 103, status: "draft", total: 0, customer: null, items: [], tags: [] }
        })
        expect(built.gone).toEqual([])
        // Numbers keep their exact text: numeric(10,2) stays 10.50.
        expect(built.documents.find((d) => d.id === "100")?.json).toContain('"total":10.50')
      })
    )

    it.effect("a missing or soft-deleted root is reported gone", () =>
      Effect.gen(function* () {
        const builder = yield* builderFor(ordersIndexYaml)
        const built = yield* builder.build(["102", "999", "103"])
        expect(built.documents.map((d) => d.id)).toEqual(["103"])
        expect(built.gone).toEqual(["102", "999"])
        expect(yield* builder.build([])).toEqual({ documents: [], gone: [] })
      })
    )

    it.effect(
      "has_many without order_by or limit is ordered by the child's primary key; has_one picks by order_by",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          yield* sql`ALTER TABLE orders REPLICA IDENTITY FULL`
          const builder = yield* builderFor(`
  - name: customers
    table: customers
    fields: [name]
    relations:
      orders: { kind: has_many, table: orders, foreign_key: customer_id, fields: [id] }
      last_order: { kind: has_one, table: orders, foreign_key: customer_id, fields: [id], order_by: [id desc] }
`)
          const built = yield* builder.build(["1", "2"])
          yield* sql`INSERT INTO orders VALUES (99, 1, 'old', 1, NULL)`
          const after = yield* builder.build(["1"])
          expect(parsed(built)).toEqual({
            "1": { name: "Ada", orders: [{ id: 100 }], last_order: { id: 100 } },
            "2": { name: "Bob", orders: [{ id: 101 }], last_order: { id: 101 } }
          })
          expect(parsed(after)).toEqual({
            "1": { name: "Ada", orders: [{ id: 99 }, { id: 100 }], last_order: { id: 100 } }
          })
          yield* sql`DELETE FROM orders WHERE id = 99`
        })
    )

    it.effect("a table with 60 columns: every one, keys in the table's column order", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const columns = Array.from({ length: 60 }, (_, i) => `c${i} int DEFAULT ${i}`)
        yield* sql.unsafe(`CREATE TABLE wide (id int PRIMARY KEY, ${columns.join(", ")})`)
        yield* sql`INSERT INTO wide (id) VALUES (1)`
        const builder = yield* builderFor("  - { name: wide, table: wide }")
        const [document] = (yield* builder.build(["1"])).documents
        const object = JSON.parse(document!.json)
        expect(Object.keys(object)).toEqual(["id", ...Array.from({ length: 60 }, (_, i) => `c${i}`)])
        expect(object.c59).toBe(59)
      })
    )
  })
})
