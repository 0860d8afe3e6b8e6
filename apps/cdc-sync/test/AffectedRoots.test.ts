import { TestDatabase } from "@converge/testing"
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import type { RowChange } from "../src/capture/RowChange.js"
import * as Validation from "../src/config/Validation.js"
import * as AffectedRoots from "../src/documents/AffectedRoots.js"
import { configYaml, createShop, decode, ordersIndexYaml, seedShop } from "./fixtures/shop.js"

const shop = Layer.provideMerge(
  Layer.effectDiscard(Effect.zipRight(createShop, seedShop)),
  TestDatabase.layer
)

const resolver = decode(configYaml(ordersIndexYaml)).pipe(
  Effect.flatMap(Validation.validate),
  Effect.flatMap((validated) => AffectedRoots.make(validated.plans[0]!))
)

const change = (
  table: string,
  operation: RowChange["operation"],
  images: { readonly old?: Record<string, string | null>; readonly new?: Record<string, string | null> }
): RowChange => ({ table: `public.${table}`, operation, old: images.old, new: images.new })

const resolve = (...changes: ReadonlyArray<RowChange>) =>
  Effect.flatMap(resolver, (affected) => affected.resolve(changes)).pipe(Effect.map((ids) => [...ids].sort()))

describe("AffectedRoots", () => {
  it.layer(shop)("on the shop (orders index)", (it) => {
    it.effect("a root change affects its own id; a primary-key change both the old and the new id", () =>
      Effect.gen(function* () {
        expect(yield* resolve(change("orders", "insert", { new: { id: "104", status: "new" } }))).toEqual([
          "104"
        ])
        expect(
          yield* resolve(change("orders", "update", { old: { id: "100" }, new: { id: "105" } }))
        ).toEqual(["100", "105"])
        expect(yield* resolve(change("orders", "delete", { old: { id: "101" } }))).toEqual(["101"])
      })
    )

    it.effect("a child moved to another parent affects both parents; a deleted child its old parent", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        yield* sql`UPDATE order_items SET order_id = 100 WHERE id = 1003`
        const moved = change("order_items", "update", {
          old: { id: "1003", order_id: "101", sku: "D", qty: "1", position: "1" },
          new: { id: "1003", order_id: "100", sku: "D", qty: "1", position: "1" }
        })
        expect(yield* resolve(moved)).toEqual(["100", "101"])
        yield* sql`DELETE FROM order_items WHERE id = 1003`
        expect(
          yield* resolve(
            change("order_items", "delete", {
              old: { id: "1003", order_id: "100", sku: "D", qty: "1", position: "1" }
            })
          )
        ).toEqual(["100"])
      })
    )

    it.effect("belongs_to and its nested has_one resolve through the parent's foreign key", () =>
      Effect.gen(function* () {
        expect(
          yield* resolve(change("customers", "update", { new: { id: "1", name: "Ada L.", email: null } }))
        ).toEqual(["100"])
        expect(
          yield* resolve(
            change("profiles", "update", {
              old: { id: "10", customer_id: "1", bio: "math" },
              new: { id: "10", customer_id: "2", bio: "math" }
            })
          )
        ).toEqual(["100", "101"])
      })
    )

    it.effect("many_to_many: a join row affects its parent, a related row every parent joined to it", () =>
      Effect.gen(function* () {
        expect(
          yield* resolve(change("order_tags", "delete", { old: { order_id: "101", tag_id: "3" } }))
        ).toEqual(["101"])
        expect(
          yield* resolve(change("order_tags", "insert", { new: { order_id: "103", tag_id: "1" } }))
        ).toEqual(["103"])
        expect(yield* resolve(change("tags", "update", { new: { id: "1", label: "crimson" } }))).toEqual([
          "100"
        ])
      })
    )

    it.effect("one batch mixes sites and dedupes; an unrelated table affects nothing", () =>
      Effect.gen(function* () {
        expect(
          yield* resolve(
            change("tags", "update", { new: { id: "3", label: "lime" } }),
            change("customers", "update", { new: { id: "2", name: "Bo", email: null } }),
            change("orders", "update", { new: { id: "101", status: "shipped" } }),
            change("order_items", "insert", {
              new: { id: "2000", order_id: "100", sku: "Z", qty: "1", position: "9" }
            })
          )
        ).toEqual(["100", "101"])
        expect(yield* resolve(change("audit_log", "insert", { new: { id: "1" } }))).toEqual([])
      })
    )
  })
})
