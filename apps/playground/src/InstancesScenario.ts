/**
 * The scripted scenario of `converge-playground instances`: three groups on the simulated cloud,
 * then, one after the other (each once the previous one has settled):
 *
 * 1. a mass failure: the cloud fails 75 % of `web` at once (replaced without a drain);
 * 2. three of `web`'s agents stop reporting: replacements with a drain, two at once (the
 *    replacement budget, 50 % of 4), the breaker open until the budget's 15 s window has passed;
 * 3. a termination notice (a spot interruption) on an `api` instance: a drain and a replacement;
 * 4. a config change of size: `batch` from 2 to 4;
 * 5. a config change of template: `api` moves to image `api:v2`, a drift rotation one at a time.
 *
 * Each step says what makes it visible in the status and when it has settled.
 */
import type {
  GroupConfig,
  InstanceManager,
  ManagerStatus,
  SimulatedAgents,
  SimulatedProvider
} from "@converge/instance-manager"
import { GroupStore, InstanceStore } from "@converge/instance-manager"
import type { SqlClient, SqlError } from "@effect/sql"
import { Effect } from "effect"
import * as InstancesView from "./InstancesView.js"

/** The groups the playground starts with (the config file's `groups` section). */
export const groups = [
  {
    key: "web",
    desiredSize: 4,
    healthInterval: "2s",
    maxSurge: 2,
    drainTimeout: "8s",
    replacementBudget: { maxPercent: 50, window: "15s" },
    template: { image: "web:v1" }
  },
  {
    key: "api",
    desiredSize: 3,
    healthInterval: "2s",
    drainTimeout: "30s",
    replacementBudget: { maxPercent: 100, window: "1m" },
    template: { image: "api:v1" }
  },
  { key: "batch", desiredSize: 2, healthInterval: "2s", drainTimeout: "8s", template: { image: "batch:v1" } }
]

/** What a step acts on. */
export interface Context {
  readonly manager: InstanceManager.InstanceManager
  readonly controls: SimulatedProvider.SimulationControls
  readonly agents: SimulatedAgents.SimulatedAgents
  /** The group settings as configured (decoded), by key. */
  readonly configured: (key: string) => GroupConfig.GroupConfig | undefined
  /** Instances whose agents the scenario silenced (they never acknowledge a drain). */
  readonly silenced: Set<string>
}

/** One step: what it does, what shows that it happened, and when it has settled. */
export interface Step {
  readonly description: string
  readonly run: (context: Context) => Effect.Effect<void, unknown, SqlClient.SqlClient>
  /** The status shows the step's effect (checked before `settled`, so a step is never missed). */
  readonly visible: (status: ManagerStatus.ManagerStatus) => boolean
  /** The step is over: every group converged, plus the step's own condition. */
  readonly settled: (context: Context) => Effect.Effect<boolean, SqlError.SqlError, SqlClient.SqlClient>
}

const liveOf = (key: string) => InstanceStore.listLive("default", key)

const runningIds = (controls: SimulatedProvider.SimulationControls, key: string) =>
  Effect.map(controls.instances, (instances) =>
    instances.filter((instance) => instance.group === key && instance.state === "running")
  )

/** The keys of the playground's groups. */
export const keys: ReadonlyArray<string> = groups.map((group) => group.key)

const convergedNow = (context: Context) =>
  Effect.map(context.manager.status.get, (status) => InstancesView.converged(status, keys))

/** The scenario's steps, in order. */
export const steps: ReadonlyArray<Step> = [
  {
    description: "mass failure: the cloud fails 75 % of web at once",
    run: ({ controls }) => Effect.asVoid(controls.massFailure("default", "web", 0.75)),
    visible: (status) => (InstancesView.group(status, "web")?.healthy ?? 0) < 4,
    settled: convergedNow
  },
  {
    description: "silence: three of web's agents stop reporting (replacements within the budget)",
    run: ({ controls, agents, silenced }) =>
      Effect.gen(function* () {
        const running = yield* runningIds(controls, "web")
        for (const instance of running.slice(0, 3)) {
          silenced.add(instance.instanceId)
          yield* agents.mute(instance.instanceId)
        }
      }),
    visible: (status) => InstancesView.group(status, "web")?.breakerOpen === true,
    settled: convergedNow
  },
  {
    description: "termination notice: the cloud will take an api instance in 30 s",
    run: ({ controls }) =>
      Effect.gen(function* () {
        const [target] = yield* runningIds(controls, "api")
        if (target !== undefined) yield* controls.terminationNotice(target.providerId, "30 seconds")
      }),
    visible: (status) => (InstancesView.group(status, "api")?.draining ?? 0) > 0,
    settled: convergedNow
  },
  {
    description: "config change: batch desired size 2 -> 4",
    run: ({ manager }) => manager.setDesired("default", "batch", 4),
    visible: (status) => InstancesView.group(status, "batch")?.desired === 4,
    settled: convergedNow
  },
  {
    description: "config change: api template image api:v1 -> api:v2 (drift rotation, one at a time)",
    run: ({ manager, configured }) => {
      const api = configured("api")
      return api === undefined ? Effect.void : manager.putGroup({ ...api, template: { image: "api:v2" } })
    },
    visible: (status) => (InstancesView.group(status, "api")?.draining ?? 0) > 0,
    settled: (context) =>
      Effect.gen(function* () {
        if (!(yield* convergedNow(context))) return false
        const group = yield* GroupStore.get("default", "api")
        const live = yield* liveOf("api")
        return group._tag === "Some" && live.every((row) => row.templateHash === group.value.templateHash)
      })
  }
]
