import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { TestDatabase } from "@converge/testing"
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Schema } from "effect"
import * as Api from "../src/Api.js"
import * as Flows from "../src/Flows.js"
import { runCli } from "./cliHarness.js"
import { migratedDatabase } from "./helpers.js"

const specDir = mkdtempSync(join(tmpdir(), "converge-deps-cli-"))
const writeSpec = (name: string, content: unknown) => {
  const path = join(specDir, name)
  writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content))
  return path
}

const env = Effect.map(TestDatabase.TestDatabase, (database) => ({ DATABASE_URL: database.url }))

const decodeJson = <A, I>(schema: Schema.Schema<A, I>, text: string) =>
  Schema.decodeUnknownSync(Schema.parseJson(schema))(text)

describe("converge-deps CLI", () => {
  layer(migratedDatabase, { excludeTestServices: true, timeout: 600_000 })("as child processes", (it) => {
    it.effect(
      "--help describes every command and its options",
      () =>
        Effect.gen(function* () {
          const root = yield* runCli(["--help"])
          expect(root.code).toBe(0)
          for (const command of [
            "run",
            "migrate",
            "flow create",
            "flow get",
            "complete",
            "cancel",
            "sweep"
          ]) {
            expect(root.stdout).toContain(`- ${command}`)
          }
          expect(root.stdout).toContain("flow create (-f, --file file)")
          expect(root.stdout).toContain("--no-push")
          expect(root.stdout).toContain("sweep [--once]")
        }),
      120_000
    )

    it.effect(
      "migrate, flow create, complete, sweep --once, cancel and flow get work end to end",
      () =>
        Effect.gen(function* () {
          const environment = yield* env
          const migrate = yield* runCli(["migrate"], environment)
          expect(migrate.stdout).toContain("The database is up to date.")
          expect(migrate.code).toBe(0)

          const specFile = writeSpec("flow.json", {
            namespace: "cli",
            executions: [
              { name: "build" },
              { name: "lint" },
              { name: "test" },
              { name: "ship", policy: { quorum: 1 } }
            ],
            edges: [
              { upstream: "build", downstream: "test" },
              { upstream: "build", downstream: "ship" }
            ]
          })
          const created = yield* runCli(["flow", "create", "-f", specFile], environment)
          expect(created.stderr).toBe("")
          expect(created.code).toBe(0)
          const flow = decodeJson(Api.CreatedFlow, created.stdout)
          const build = flow.executions.build ?? ""

          const completed = yield* runCli(["complete", build, "--outcome", "failed"], environment)
          expect(completed.code).toBe(0)
          expect(decodeJson(Api.Completed, completed.stdout).executionId).toBe(build)

          const swept = yield* runCli(["sweep", "--once", "--stale-threshold-ms", "0"], environment)
          expect(swept.code).toBe(0)
          expect(JSON.parse(swept.stdout)).toMatchObject({ scanned: 1, reconciled: 1, errors: 0 })

          const cancelled = yield* runCli(["cancel", flow.flowId, "--mode", "cancel_all"], environment)
          expect(cancelled.code).toBe(0)
          expect(decodeJson(Api.CancelledFlow, cancelled.stdout).cancelled).toEqual([flow.executions.lint])

          const got = yield* runCli(["flow", "get", flow.flowId], environment)
          expect(got.code).toBe(0)
          const view = decodeJson(Flows.FlowView, got.stdout)
          expect(view.executions.map((execution) => [execution.name, execution.state])).toEqual([
            ["build", "failed"],
            ["lint", "cancelled"],
            ["test", "skipped"],
            ["ship", "skipped"]
          ])
          expect(view.state).toBe("cancelled")
        }),
      300_000
    )

    it.effect(
      "bad input is a clear message on stderr and exit code 1",
      () =>
        Effect.gen(function* () {
          const environment = yield* env
          const cycleFile = writeSpec("cycle.json", {
            executions: [{ name: "a" }, { name: "b" }],
            edges: [
              { upstream: "a", downstream: "b" },
              { upstream: "b", downstream: "a" }
            ]
          })
          const policyFile = writeSpec("policy.json", { executions: [{ name: "a", policy: "most_of" }] })
          const [missing, badPolicy, cycle, unknownFlow, notAnId] = yield* Effect.all(
            [
              runCli(["flow", "create", "-f", join(specDir, "nope.json")], environment),
              runCli(["flow", "create", "-f", policyFile], environment),
              runCli(["flow", "create", "-f", cycleFile], environment),
              runCli(["flow", "get", "999999"], environment),
              runCli(["complete", "abc", "--outcome", "succeeded"], environment)
            ],
            { concurrency: 3 }
          )
          expect(missing.code).toBe(1)
          expect(missing.stdout + missing.stderr).toContain("nope.json")
          expect(badPolicy.code).toBe(1)
          expect(badPolicy.stderr).toContain("policy.json is not a valid flow spec")
          expect(badPolicy.stderr).toContain("at executions.0.policy")
          expect(cycle.code).toBe(1)
          expect(cycle.stderr).toContain("The edges form a cycle")
          expect(unknownFlow.code).toBe(1)
          expect(unknownFlow.stderr).toContain("No flow 999999")
          expect(notAnId.code).toBe(1)
          expect(notAnId.stdout + notAnId.stderr).toContain("positive integer")
        }),
      300_000
    )
  })
})
