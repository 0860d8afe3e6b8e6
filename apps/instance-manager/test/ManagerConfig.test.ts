import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { CliConfig, Options } from "@effect/cli"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, HashMap } from "effect"
import * as Cli from "../src/Cli.js"
import * as ManagerConfig from "../src/config/ManagerConfig.js"

const fails = (yaml: string) => Effect.flip(ManagerConfig.decodeYaml(yaml, "instances.yaml"))

describe("ManagerConfig", () => {
  it.effect("leaderCheckInterval defaults to 1 s, reads units, and rejects 0 with a clear message", () =>
    Effect.gen(function* () {
      const defaults = yield* ManagerConfig.decodeYaml("groups: []\n", "x.yaml")
      expect(Duration.toMillis(defaults.leaderCheckInterval)).toBe(1_000)
      const quick = yield* ManagerConfig.decodeYaml("leaderCheckInterval: 250ms\n", "x.yaml")
      expect(Duration.toMillis(quick.leaderCheckInterval)).toBe(250)
      const zero = yield* fails("leaderCheckInterval: 0s\n")
      expect(zero.message).toContain("leaderCheckInterval must be positive")
    })
  )

  it.effect("applies the documented defaults", () =>
    Effect.gen(function* () {
      const config = yield* ManagerConfig.decodeYaml("groups:\n  - key: web\n    desiredSize: 3\n", "x.yaml")
      const group = config.groups[0]
      expect(group?.tenant).toBe("default")
      expect(group?.maxSurge).toBe(1)
      expect(Duration.toMillis(group?.healthInterval ?? Duration.zero)).toBe(60_000)
      expect(Duration.toMillis(group?.drainTimeout ?? Duration.zero)).toBe(300_000)
      expect(config.provider.type).toBe("simulated")
      expect(config.retry.create.initialDelayMs).toBe(5_000)
      expect(config.retry.create.maxDelayMs).toBe(120_000)
      expect(config.retry.create.maxAttempts).toBe(8)
      expect(config.retry.create.jitter).toMatchObject({ fraction: 0.25, mode: "plus" })
      expect(config.retry.create.nonRetryable).toContain("ProviderPermanentError")
      expect(config.retry.followUp.initialDelayMs).toBe(3_000)
      expect(config.retry.followUp.maxDelayMs).toBe(30_000)
    })
  )

  it.effect("reads durations with units, provider settings and per-event retry overrides", () =>
    Effect.gen(function* () {
      const config = yield* ManagerConfig.decodeYaml(
        [
          "provider: { type: simulated, createLatency: 50ms, failureRate: 0.1, api: { burst: 100, perSecond: 20 } }",
          "createRateLimit: { burst: 20, perSecond: 10 }",
          "retry:",
          "  CheckInstance: { initialDelay: 1s, maxDelay: 10s, maxAttempts: 3 }",
          "groups:",
          "  - key: web",
          "    desiredSize: 2",
          "    drainTimeout: 0",
          "    expiry: { eligibleAge: 12h, forcedAge: 1d }",
          "    template: { image: web-1.4 }"
        ].join("\n"),
        "x.yaml"
      )
      const group = config.groups[0]
      expect(Duration.toMillis(group?.expiry.forcedAge ?? Duration.zero)).toBe(86_400_000)
      expect(Duration.toMillis(group?.drainTimeout ?? Duration.infinity)).toBe(0)
      expect(group?.template).toEqual({ image: "web-1.4" })
      expect(config.provider.type === "simulated" && config.provider.failureRate).toBe(0.1)
      expect(config.retry.CheckInstance).toMatchObject({
        initialDelayMs: 1_000,
        maxDelayMs: 10_000,
        maxAttempts: 3
      })
      expect(config.retry.DrainAcked.initialDelayMs).toBe(5_000)
    })
  )

  it.effect("eligible age at or above forced age names the field and the fix", () =>
    Effect.gen(function* () {
      const error = yield* fails(
        "groups:\n  - key: web\n    desiredSize: 1\n    expiry: { eligibleAge: 2h, forcedAge: 1h }\n"
      )
      expect(error._tag).toBe("ConfigError")
      expect(error.issues).toEqual([
        {
          path: "groups[0].expiry.eligibleAge",
          message: expect.stringContaining("must be less than forcedAge")
        }
      ])
      expect(error.message).toContain("instances.yaml")
      expect(error.message).toContain("lower eligibleAge or raise forcedAge")
    })
  )

  it.effect("negative sizes are rejected with the field named", () =>
    Effect.gen(function* () {
      const error = yield* fails("groups:\n  - key: web\n    desiredSize: -1\n    maxSurge: -2\n")
      expect(error.issues.map((issue) => issue.path)).toEqual(["groups[0].desiredSize", "groups[0].maxSurge"])
      expect(error.message).toContain("desiredSize must not be negative")
      expect(error.message).toContain("maxSurge must not be negative")
    })
  )

  it.effect("an unknown provider lists the known ones", () =>
    Effect.gen(function* () {
      const error = yield* fails("provider: { type: aws }\n")
      expect(error.issues[0]?.path).toBe("provider.type")
      expect(error.message).toContain('unknown provider: use one of "simulated", "process"')
    })
  )

  it.effect(
    "unknown fields, bad durations, duplicate groups, bad retry policies and bad YAML are errors",
    () =>
      Effect.gen(function* () {
        const misspelt = yield* fails("groups:\n  - key: web\n    desiredSise: 3\n    desiredSize: 3\n")
        expect(misspelt.issues).toEqual([
          { path: "groups[0].desiredSise", message: "unknown field: remove it or check its spelling" }
        ])
        const duration = yield* fails("groups:\n  - key: web\n    desiredSize: 1\n    drainTimeout: soon\n")
        expect(duration.issues[0]?.path).toBe("groups[0].drainTimeout")
        expect(duration.message).toContain('expected a duration such as 90, "500ms"')
        const duplicate = yield* fails(
          "groups:\n  - { key: web, desiredSize: 1 }\n  - { key: web, desiredSize: 2 }\n"
        )
        expect(duplicate.issues[0]?.path).toBe("groups[1].key")
        expect(duplicate.message).toContain("listed twice")
        const retry = yield* fails("retry:\n  create: { initialDelay: 1m, maxDelay: 1s }\n")
        expect(retry.issues[0]?.path).toBe("retry.create")
        expect(retry.message).toContain("use initialDelay <= maxDelay")
        const yaml = yield* fails("groups: [\n")
        expect(yaml.issues[0]?.message).toContain("not valid YAML")
      })
  )

  it.effect("a missing file names the path", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(ManagerConfig.load("/nonexistent/instances.yaml"))
      expect(error.message).toContain("/nonexistent/instances.yaml")
      expect(error.message).toContain("check the path given to -c")
    })
  )

  it.effect("every problem is reported together: the cross-field rules alongside field errors", () =>
    Effect.gen(function* () {
      const error = yield* fails(
        [
          "groups:",
          "  - key: web",
          "    desiredSize: -1",
          "    healthInterval: 0",
          "    expiry: { eligibleAge: 2h, forcedAge: 1h }",
          "  - { key: api, desiredSize: 1 }",
          "  - { key: api, desiredSize: nine }",
          "concurrency: 0"
        ].join("\n")
      )
      expect(new Set(error.issues.map((issue) => issue.path))).toEqual(
        new Set([
          "groups[0].desiredSize",
          "groups[0].healthInterval",
          "groups[0].expiry.eligibleAge",
          "groups[2].desiredSize",
          "groups[2].key",
          "concurrency"
        ])
      )
      expect(error.message).toContain("lower eligibleAge or raise forcedAge")
      expect(error.message).toContain("healthInterval must be positive")
      expect(error.message).toContain("listed twice")
      // A valid file with only a rule broken still names just that rule.
      const only = yield* fails("groups:\n  - { key: web, desiredSize: 1, healthInterval: 0 }\n")
      expect(only.issues).toEqual([
        { path: "groups[0].healthInterval", message: expect.stringContaining("must be positive") }
      ])
    })
  )
})

describe("environment overrides", () => {
  const directory = mkdtempSync(join(tmpdir(), "converge-instances-config-"))
  const write = (name: string, text: string) => {
    const path = join(directory, name)
    writeFileSync(path, text)
    return path
  }
  const withEnvironment = (variables: Record<string, string>) =>
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(variables))))
  const validate = (variables: Record<string, string>, args: ReadonlyArray<string> = []) =>
    Cli.cli(["node", "converge-instances", "validate-config", ...args]).pipe(
      withEnvironment(variables),
      Effect.provide(NodeContext.layer)
    )

  it.effect("CONVERGE_INSTANCES_CONFIG names the config file when -c is not given; -c wins", () =>
    Effect.gen(function* () {
      const good = write("good.yaml", "groups:\n  - { key: web, desiredSize: 2 }\n")
      const bad = write("bad.yaml", "groups:\n  - { key: web, desiredSize: -2 }\n")
      yield* validate({ CONVERGE_INSTANCES_CONFIG: good })
      const failure = yield* Effect.flip(validate({ CONVERGE_INSTANCES_CONFIG: bad }))
      expect(failure._tag).toBe("CommandFailed")
      const message = failure._tag === "CommandFailed" ? failure.message : ""
      expect(message).toContain(bad)
      expect(message).toContain("desiredSize must not be negative")
      // The command line overrides the environment.
      yield* validate({ CONVERGE_INSTANCES_CONFIG: bad }, ["-c", good])
      // Neither: the command line parser says the option is missing.
      const missing = yield* Effect.flip(validate({}))
      expect(missing._tag).toBe("MissingValue")
    })
  )

  it.effect("CONVERGE_INSTANCES_PORT and CONVERGE_HTTP_PORT set the ports of run; flags win", () =>
    Effect.gen(function* () {
      const parse = <A>(options: Options.Options<A>, args: Record<string, ReadonlyArray<string>>) =>
        Options.parse(options, HashMap.fromIterable(Object.entries(args)), CliConfig.defaultConfig).pipe(
          Effect.provide(NodeContext.layer)
        )
      const variables = { CONVERGE_INSTANCES_PORT: "9100", CONVERGE_HTTP_PORT: "9464" }
      expect(yield* parse(Cli.apiPort, {}).pipe(withEnvironment(variables))).toBe(9100)
      expect(yield* parse(Cli.statusPort, {}).pipe(withEnvironment(variables))).toBe(9464)
      expect(yield* parse(Cli.apiPort, { "--port": ["0"] }).pipe(withEnvironment(variables))).toBe(0)
      expect(yield* parse(Cli.apiPort, {}).pipe(withEnvironment({}))).toBe(8080)
      expect(yield* parse(Cli.statusPort, {}).pipe(withEnvironment({}))).toBe(0)
    })
  )
})
