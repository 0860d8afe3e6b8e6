import { LeaderGate } from "@converge/core"
import { PrometheusMetrics } from "@converge/http"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import * as ManagerConfig from "../src/config/ManagerConfig.js"
import { SimulatedProviderConfig } from "../src/config/ProviderConfig.js"
import * as InstanceManager from "../src/InstanceManager.js"
import * as ManagerMetrics from "../src/ManagerMetrics.js"
import { Provider } from "../src/provider/Provider.js"
import * as SimulatedAgents from "../src/provider/SimulatedAgents.js"
import * as SimulatedProvider from "../src/provider/SimulatedProvider.js"
import { Notifier } from "../src/reconciler/Notifier.js"
import * as Fence from "../src/state/Fence.js"
import { advanceUntil, instantCloud, live } from "./harness.js"
import { leadOn, migratedDatabase } from "./helpers.js"

const lockKey = 7801

/** The value of one sample in a Prometheus exposition, or undefined when it is absent. */
const sample = (
  exposition: string,
  name: string,
  labels: Record<string, string> = {}
): number | undefined => {
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`)
  for (const line of exposition.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue
    const labelText = line.slice(name.length).split(" ")[0] ?? ""
    if (wanted.every((label) => labelText.includes(label))) return Number(line.split(" ").at(-1))
  }
  return undefined
}

const runningCount = (group: string, count: number) =>
  Effect.map(live(group), (rows) => rows.length === count && rows.every((row) => row.state === "running"))

describe("manager metrics", () => {
  it.layer(migratedDatabase)("at /metrics", (it) => {
    it.scoped(
      "creates, deletes and failures per group, lost instances, replacements by reason, group and queue gauges, leader and event outcomes",
      () =>
        Effect.gen(function* () {
          const config = yield* ManagerConfig.decodeYaml(
            [
              `leaderLockKey: ${lockKey}`,
              "createRateLimit: { burst: 100000, perSecond: 100000 }",
              "eventQueueCapacity: 500",
              "groups:",
              "  - { key: web, desiredSize: 3, healthInterval: 10s, drainTimeout: 30s }",
              "  - { key: api, desiredSize: 2, healthInterval: 10s, drainTimeout: 10m }"
            ].join("\n"),
            "metrics.yaml"
          )
          const simulation = yield* SimulatedProvider.make(
            Schema.decodeUnknownSync(SimulatedProviderConfig)({ type: "simulated", ...instantCloud })
          )
          const gate = yield* Effect.orDie(leadOn(lockKey))
          const silent = { notifyDrain: () => Effect.void, notifyError: () => Effect.void }
          const manager = yield* InstanceManager.make(config).pipe(
            Effect.provideService(Provider, ManagerMetrics.meteredProvider(simulation.provider)),
            Effect.provideService(LeaderGate.LeaderGate, gate),
            Effect.provideService(Fence.Fence, Fence.make(lockKey)),
            Effect.provideService(Notifier, ManagerMetrics.meteredNotifier(silent))
          )
          yield* ManagerMetrics.track(manager.status)
          const agents = yield* SimulatedAgents.make({
            controls: simulation.controls,
            interval: "5 seconds",
            report: manager.reportHealth
          })
          const { scrape } = yield* PrometheusMetrics.make
          const web = { tenant: "default", group: "web" }
          const api = { tenant: "default", group: "api" }

          yield* advanceUntil(
            manager,
            Effect.zipWith(runningCount("web", 3), runningCount("api", 2), (a, b) => a && b),
            { step: "1 second", max: "1 minute" }
          )
          let metrics = yield* scrape
          expect(sample(metrics, "converge_instances_creates_total", web)).toBe(3)
          expect(sample(metrics, "converge_instances_creates_total", api)).toBe(2)
          expect(sample(metrics, "converge_instances_group_desired", web)).toBe(3)
          expect(sample(metrics, "converge_instances_group_actual", api)).toBe(2)
          expect(sample(metrics, "converge_instances_leader")).toBe(1)
          expect(sample(metrics, "converge_instances_term")).toBeGreaterThan(0)
          expect(sample(metrics, "converge_instances_event_queue_capacity")).toBe(500)
          expect(sample(metrics, "converge_instances_event_queue_full")).toBe(0)
          expect(
            sample(metrics, "converge_instances_events_total", { outcome: "handled" })
          ).toBeGreaterThanOrEqual(2)
          expect(
            sample(metrics, "converge_instances_provider_calls_total", { operation: "create", outcome: "ok" })
          ).toBe(5)

          // A mass failure of web: three instances turn terminal, are deleted without a drain and replaced.
          yield* simulation.controls.massFailure("default", "web", 1)
          yield* advanceUntil(
            manager,
            Effect.map(scrape, (text) => (sample(text, "converge_instances_creates_total", web) ?? 0) >= 6),
            { step: "2 seconds", max: "3 minutes" }
          )
          metrics = yield* scrape
          expect(sample(metrics, "converge_instances_lost_total", { ...web, state: "failed" })).toBe(3)
          expect(sample(metrics, "converge_instances_deletes_total", web)).toBe(3)
          expect(sample(metrics, "converge_instances_replacements_total", web)).toBeUndefined()

          // A termination notice on api: a drain (a replacement) that shows in the draining gauge.
          const [noticed] = yield* live("api")
          yield* manager.terminationNotice(noticed?.id ?? "")
          yield* advanceUntil(
            manager,
            Effect.map(scrape, (text) => sample(text, "converge_instances_group_draining", api) === 1),
            { step: "1 second", max: "1 minute" }
          )
          metrics = yield* scrape
          expect(
            sample(metrics, "converge_instances_replacements_total", { ...api, reason: "termination-notice" })
          ).toBe(1)
          expect(sample(metrics, "converge_instances_creates_total", api)).toBe(3)
          expect(sample(metrics, "converge_instances_group_actual", api)).toBe(3)

          // An api instance vanishes at the provider: counted once as lost (gone), and replaced.
          const [vanishing] = (yield* simulation.controls.instances).filter(
            (instance) => instance.group === "api" && instance.state === "running"
          )
          yield* simulation.controls.vanish(vanishing?.providerId ?? "")
          yield* advanceUntil(
            manager,
            Effect.map(
              scrape,
              (text) => sample(text, "converge_instances_lost_total", { ...api, state: "gone" }) === 1
            ),
            { step: "2 seconds", max: "2 minutes" }
          )

          // A transient create failure on a resize: counted by kind, and an error for the group.
          yield* simulation.controls.failNextCreates(1, "transient")
          yield* manager.setDesired("default", "web", 4)
          yield* advanceUntil(
            manager,
            Effect.map(scrape, (text) => sample(text, "converge_instances_group_healthy", web) === 4),
            { step: "1 second", max: "3 minutes" }
          )
          metrics = yield* scrape
          expect(
            sample(metrics, "converge_instances_create_failures_total", { ...web, kind: "retryable" })
          ).toBe(1)
          expect(sample(metrics, "converge_instances_errors_total", web)).toBeGreaterThanOrEqual(1)
          expect(sample(metrics, "converge_instances_group_desired", web)).toBe(4)
          expect(sample(metrics, "converge_instances_group_actual", web)).toBe(4)
          expect(sample(metrics, "converge_instances_group_breaker_open", web)).toBe(0)

          // Three silent agents in web: the budget (50 % of 4) allows two replacements, so the
          // breaker opens, and the replacements are counted by reason.
          const running = (yield* simulation.controls.instances).filter(
            (instance) => instance.group === "web" && instance.state === "running"
          )
          for (const instance of running.slice(0, 3)) yield* agents.mute(instance.instanceId)
          yield* advanceUntil(
            manager,
            Effect.map(scrape, (text) => sample(text, "converge_instances_group_breaker_open", web) === 1),
            { step: "2 seconds", max: "3 minutes" }
          )
          metrics = yield* scrape
          expect(
            sample(metrics, "converge_instances_replacements_total", {
              ...web,
              reason: "missed-health-reports"
            })
          ).toBe(2)
        })
    )
  })
})
