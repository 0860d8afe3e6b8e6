import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as ConfigFile from "../src/config/ConfigFile.js"
import * as Main from "../src/main.js"
import * as OpenSearchStandIn from "./fixtures/OpenSearchStandIn.js"
import { configYaml, ordersIndexYaml } from "./fixtures/shop.js"

const withSinks = (sinks: string) => configYaml(ordersIndexYaml, `sinks:\n${sinks}`)

describe("opensearch sink configuration", () => {
  it.effect("decodes snake_case keys with the default bulk caps", () =>
    Effect.gen(function* () {
      const config = yield* ConfigFile.parse(
        "cdc.yaml",
        withSinks(
          `  search: { type: opensearch, nodes: ["http://localhost:9200"], index_prefix: app_, auth: { username: u, password: p } }`
        )
      )
      expect(config.sinks.search).toEqual({
        type: "opensearch",
        nodes: ["http://localhost:9200"],
        auth: { username: "u", password: "p" },
        indexPrefix: "app_",
        maxBulkDocuments: 1000,
        maxBulkBytes: 10 * 1024 * 1024,
        refreshInterval: "1s",
        gcDeletes: "1h",
        requestTimeoutMs: 30_000
      })
      const failure = yield* Effect.flip(
        ConfigFile.parse("cdc.yaml", withSinks(`  search: { type: opensearch, nodes: [] }`))
      )
      expect(failure.message).toContain("nodes")
    })
  )

  it.scopedLive("sinksOf builds an opensearch sink on the configured nodes (the stand-in here)", () =>
    Effect.gen(function* () {
      const standIn = yield* OpenSearchStandIn.start
      const config = yield* ConfigFile.parse(
        "cdc.yaml",
        withSinks(
          `  search: { type: opensearch, nodes: ["${standIn.url}"], index_prefix: app_, auth: { username: cdc, password: pw } }`
        )
      )
      const [sink] = yield* Main.sinksOf(config, "postgres://unused")
      expect(sink?.name).toBe("search")
      yield* sink!.ensureIndexes([{ name: "orders", searchable: [] }])
      expect(yield* standIn.aliases).toEqual({ app_orders: ["app_orders_g1"] })
      const basic = `Basic ${Buffer.from("cdc:pw").toString("base64")}`
      expect((yield* standIn.log).every((request) => request.authorization === basic)).toBe(true)
    })
  )
})
