import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import * as ChangeSet from "../src/ChangeSet.js"
import * as Selector from "../src/Selector.js"
import * as Store from "../src/Store.js"
import * as CacheFile from "../src/sources/CacheFile.js"
import * as CacheFileInitializer from "../src/sources/CacheFileInitializer.js"

const directory = () => mkdtempSync(join(tmpdir(), "flags-cache-"))

const storeWith = (): Store.Store => {
  const selector = Selector.make("epoch-7", 7)
  const full = ChangeSet.ChangeSet.Full({
    selector,
    updates: [
      ChangeSet.Update.Put({ kind: "flag", key: "alpha", version: 3, object: { on: true } }),
      ChangeSet.Update.Put({ kind: "segment", key: "beta-users", version: 5, object: { included: ["a"] } })
    ]
  })
  const partial = ChangeSet.ChangeSet.Partial({
    selector,
    updates: [ChangeSet.Update.Delete({ kind: "flag", key: "gone", version: 6 })]
  })
  return Store.apply(Store.apply(Store.empty, full).store, partial).store
}

describe("CacheFile and CacheFileInitializer", () => {
  it.effect("a written store reads back as a Full change set of its live objects, without a selector", () =>
    Effect.gen(function* () {
      const path = join(directory(), "flags.json")
      const store = storeWith()
      yield* CacheFile.write(path, store)
      const initializer = yield* CacheFileInitializer.make(path)
      const result = yield* initializer.run(Selector.empty)
      if (result._tag !== "ChangeSet" || result.changeSet._tag !== "Full") return expect.fail("not Full")
      expect(result.changeSet.selector).toEqual(Selector.empty)
      const restored = Store.apply(Store.empty, result.changeSet).store
      expect(Store.all(restored, "flag")).toEqual(Store.all(store, "flag"))
      expect(Store.all(restored, "segment")).toEqual(Store.all(store, "segment"))
      expect(Store.get(restored, "flag", "alpha")).toEqual(Option.some({ version: 3, object: { on: true } }))
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.effect("writes atomically: a rewrite replaces the file whole and leaves no temporary file", () =>
    Effect.gen(function* () {
      const dir = directory()
      const path = join(dir, "flags.json")
      yield* CacheFile.write(path, storeWith())
      for (let round = 0; round < 20; round++) yield* CacheFile.write(path, Store.empty)
      expect(readdirSync(dir)).toEqual(["flags.json"])
      expect(JSON.parse(readFileSync(path, "utf8"))).toEqual(CacheFile.contentsOf(Store.empty))
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.effect("a missing or corrupt file is a categorized failure result, never a crash", () =>
    Effect.gen(function* () {
      const dir = directory()
      const missing = yield* CacheFileInitializer.make(join(dir, "none.json"))
      const missingResult = yield* missing.run(Selector.empty)
      expect(missingResult._tag).toBe("Interrupted")
      expect(missingResult._tag === "Interrupted" && missingResult.error.message).toContain("no cache file")
      for (const text of ["{ not json", JSON.stringify({ format: "other", items: [] }), ""]) {
        const path = join(dir, "corrupt.json")
        writeFileSync(path, text)
        const corrupt = yield* CacheFileInitializer.make(path)
        const result = yield* corrupt.run(Selector.empty)
        expect(result._tag === "Interrupted" && result.error.category).toBe("invalid-data")
      }
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.effect("a write into a missing directory fails with a clear error", () =>
    Effect.gen(function* () {
      const path = join(directory(), "no", "such", "flags.json")
      const error = yield* Effect.flip(CacheFile.write(path, storeWith()))
      expect(error._tag).toBe("CacheFileWriteError")
      expect(error.message).toContain(path)
      expect(error.message).toContain("directory exists")
    }).pipe(Effect.provide(NodeContext.layer))
  )
})
