import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect } from "effect"
import * as ConfigFile from "../src/config/ConfigFile.js"
import { configYaml, ordersIndexYaml } from "./fixtures/shop.js"

const failure = (text: string) => ConfigFile.parse("cdc.yaml", text).pipe(Effect.flip)

/** The text of an environment reference to `name` (dollar, brace, name, brace). */
const reference = (name: string) => ["$", "{", name, "}"].join("")

describe("ConfigFile", () => {
  it.effect("decodes snake_case YAML into the configuration, with defaults", () =>
    Effect.gen(function* () {
      const config = yield* ConfigFile.parse("cdc.yaml", configYaml(ordersIndexYaml))
      expect(config.source).toEqual({ slot: "shop_slot", publication: "shop_pub", managePublication: true })
      expect(config.sinks).toEqual({ stdout: { type: "stdout", pretty: false } })
      expect(config.onError).toBe("stop")
      expect(config.batch).toEqual({ maxChanges: 4096, maxWaitMs: 50 })
      expect(config.queueCapacity).toBe(16384)
      const [orders] = config.indexes
      expect(orders.softDelete).toBe("deleted_at")
      expect(orders.relations.items).toEqual({
        kind: "has_many",
        table: "order_items",
        foreignKey: "order_id",
        fields: ["sku", "qty"],
        orderBy: ["position"],
        limit: 2
      })
      expect(orders.relations.tags).toMatchObject({
        kind: "many_to_many",
        sourceKey: "order_id",
        targetKey: "tag_id"
      })
      expect(orders.relations.customer?.relations?.profile).toMatchObject({
        kind: "has_one",
        foreignKey: "customer_id"
      })
    })
  )

  it.effect("decodes a postgres sink and per-index on_error", () =>
    Effect.gen(function* () {
      const config = yield* ConfigFile.parse(
        "cdc.yaml",
        `
on_error: skip
sinks:
  search: { type: postgres, schema: search_docs }
indexes:
  - { name: tags, table: tags, on_error: dead_letter }
`
      )
      expect(config.sinks).toEqual({
        search: { type: "postgres", schema: "search_docs", textSearchConfig: "simple" }
      })
      expect(config.onError).toBe("skip")
      expect(config.indexes[0].onError).toBe("dead_letter")
    })
  )

  it.effect("names the file, the path and the expectation on a wrong shape", () =>
    Effect.gen(function* () {
      const error = yield* failure(`
indexes:
  - name: orders
    table: orders
    relations:
      items: { kind: has_many, table: order_items, foreign_key: order_id, limit: -1 }
      owner: { kind: belongs_to, table: users }
`)
      expect(error._tag).toBe("ConfigFileError")
      expect(error.message).toContain("cdc.yaml")
      expect(error.message).toContain("indexes.0.relations.items.limit")
      expect(error.message).toContain("expected a positive integer")
      expect(error.message).toContain("indexes.0.relations.owner")
      expect(error.message).toMatch(/foreign_key/)
    })
  )

  it.effect(
    "rejects an unknown key, bad YAML, no indexes, duplicate index names and a name past 63 characters",
    () =>
      Effect.gen(function* () {
        expect((yield* failure("indexes:\n  - { name: a, table: a, colour: red }\n")).message).toContain(
          "indexes.0.colour"
        )
        expect((yield* failure("indexes: [ { name: a\n")).message).toContain("not valid YAML")
        expect((yield* failure("indexes: []\n")).message).toContain("indexes")
        expect(
          (yield* failure("indexes: [{ name: a, table: x }, { name: a, table: y }]\n")).message
        ).toContain('the name "a" is used more than once')
        expect((yield* failure("indexes: [{ name: a, table: 'bad name' }]\n")).message).toContain(
          "expected a table name"
        )
        const long = "k".repeat(64)
        const tooLong = yield* failure(
          `indexes: [{ name: a, table: a, relations: { ${long}: { kind: has_many, table: b, foreign_key: a_id } } }]\n`
        )
        expect(tooLong.message).toContain(`indexes.0.relations.${long}`)
        expect(tooLong.message).toContain("expected: an SQL identifier of at most 63 characters")
        expect((yield* failure(`indexes: [{ name: ${long}, table: a }]\n`)).message).toContain(
          "expected at most 63 characters (Postgres cuts longer names)"
        )
      })
  )

  it.effect(
    "a reference in a string value is resolved from the environment; an unset variable is an error naming it",
    () =>
      Effect.gen(function* () {
        const environment = ConfigProvider.fromMap(
          new Map([
            ["HOOK_TOKEN", "s3cret"],
            ["OS_PASSWORD", "pa$$"]
          ])
        )
        const text = `
sinks:
  hooks: { type: webhook, url: "http://localhost:9/in", headers: { authorization: "Bearer \${HOOK_TOKEN}", x-literal: "$\${kept}" } }
  os: { type: opensearch, nodes: ["http://localhost:9200"], auth: { username: admin, password: "\${OS_PASSWORD}" } }
indexes: [{ name: a, table: a }]
`
        const config = yield* ConfigFile.parse("cdc.yaml", text).pipe(Effect.withConfigProvider(environment))
        // A doubled $ writes the reference's text itself.
        expect(config.sinks.hooks).toMatchObject({
          headers: { authorization: "Bearer s3cret", "x-literal": reference("kept") }
        })
        expect(config.sinks.os).toMatchObject({ auth: { username: "admin", password: "pa$$" } })

        const unset = yield* failure(text.replace("OS_PASSWORD", "MISSING_PASSWORD")).pipe(
          Effect.withConfigProvider(environment)
        )
        expect(unset.message).toContain("cdc.yaml: the configuration refers to the environment")
        expect(unset.message).toContain(
          "at sinks.os.auth.password: the environment variable MISSING_PASSWORD is not set"
        )
        const invalid = yield* failure(text.replace(reference("HOOK_TOKEN"), reference("HOOK TOKEN"))).pipe(
          Effect.withConfigProvider(environment)
        )
        expect(invalid.message).toContain("at sinks.hooks.headers.authorization")
        expect(invalid.message).toContain("is not an environment variable reference")
      })
  )

  it.effect("DATABASE_URL overrides source.url", () =>
    Effect.gen(function* () {
      const config = yield* ConfigFile.parse(
        "cdc.yaml",
        "source: { url: postgres://a/b }\nindexes: [{ name: a, table: a }]\n"
      )
      const overridden = yield* ConfigFile.withEnvironment(config).pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["DATABASE_URL", "postgres://c/d"]])))
      )
      expect(overridden.source.url).toBe("postgres://c/d")
      const kept = yield* ConfigFile.withEnvironment(config).pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map()))
      )
      expect(kept.source.url).toBe("postgres://a/b")
    })
  )
})
