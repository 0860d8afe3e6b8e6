import { TestDatabase } from "@converge/testing"
import { describe, expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as ConfigFile from "../src/config/ConfigFile.js"
import * as Main from "../src/main.js"
import { configYaml, ordersIndexYaml } from "./fixtures/shop.js"
import * as WebhookReceiver from "./fixtures/WebhookReceiver.js"

const withSinks = (sinks: string) => configYaml(ordersIndexYaml, `sinks:\n${sinks}`)

describe("webhook sink configuration", () => {
  layer(TestDatabase.layer, { timeout: 60_000, excludeTestServices: true })("decoded and built", (it) => {
    it.effect("decodes snake_case keys with defaults and rejects a URL that is not http(s)", () =>
      Effect.gen(function* () {
        const config = yield* ConfigFile.parse(
          "cdc.yaml",
          withSinks(
            `  hooks: { type: webhook, url: "http://127.0.0.1:1/hook", headers: { authorization: "Bearer x" }, max_batch: 50 }`
          )
        )
        expect(config.sinks.hooks).toEqual({
          type: "webhook",
          url: "http://127.0.0.1:1/hook",
          headers: { authorization: "Bearer x" },
          timeoutMs: 10_000,
          maxBatch: 50,
          attempts: 5,
          retryDelayMs: 200,
          stateSchema: "converge_cdc"
        })
        const failure = yield* Effect.flip(
          ConfigFile.parse("cdc.yaml", withSinks(`  hooks: { type: webhook, url: "ftp://example.com" }`))
        )
        expect(failure.message).toContain("expected an http:// or https:// URL")
      })
    )

    it.scoped("sinksOf builds a working webhook sink with its state in the source database", () =>
      Effect.gen(function* () {
        const database = yield* TestDatabase.TestDatabase
        const receiver = yield* WebhookReceiver.start
        const config = yield* ConfigFile.parse(
          "cdc.yaml",
          withSinks(`  hooks: { type: webhook, url: "${receiver.url}", state_schema: hook_state }`)
        )
        const [sink] = yield* Main.sinksOf(config, database.url)
        expect(sink?.name).toBe("hooks")
        yield* sink!.ensureIndexes([{ name: "orders", searchable: [] }])
        yield* sink!.markSeeded("orders", 16n)
        expect(yield* sink!.isSeeded("orders")).toBe(true)
        yield* sink!.write([{ index: "orders", id: "1", json: '{"id":1}', lsn: 16n }])
        expect(yield* receiver.documents("orders")).toEqual({ "1": { id: 1 } })
      })
    )
  })
})
