/**
 * `converge-playground instances`: the instance manager in this process, on the simulated cloud
 * (nothing real is created), with three groups and a scripted scenario (`InstancesScenario`): a
 * mass failure, silent agents against the replacement budget, a termination notice, a resize and a
 * template change. It prints each step, each drain / acknowledgement / error as it happens, and a
 * compact progress line whenever a group's figures change.
 *
 * ```text
 *   InstancesScenario ──faults──▶ simulated cloud ◀──create / delete / describe── InstanceManager
 *          │ resize, template                      simulated agents ──health──────▶   │ (PgLeaderGate,
 *          └─────────────────────────────────────────────────────────────────────▶   │  state in Postgres)
 *   notifier: drains (acknowledged after 1 s unless silenced), errors ──▶ "event:" lines
 *   status ──▶ "instances:" lines, /status, /metrics; API server (PUT /v1/groups/:key …)
 * ```
 */

import { LeaderGate } from "@converge/core"
import { StatusServer } from "@converge/http"
import {
  ApiServer,
  Fence,
  type GroupConfig,
  InstanceManager,
  ManagerConfig,
  ManagerMetrics,
  Notifier,
  Provider,
  SimulatedAgents,
  SimulatedProvider,
  Schema as StateSchema
} from "@converge/instance-manager"
import { PgLeaderGate } from "@converge/pg"
import type { SqlClient } from "@effect/sql"
import {
  Clock,
  Console,
  Context,
  Data,
  Deferred,
  Duration,
  Effect,
  Fiber,
  Layer,
  Ref,
  Schedule,
  Stream
} from "effect"
import * as InstancesScenario from "./InstancesScenario.js"
import * as InstancesView from "./InstancesView.js"

/** How `instances` runs. */
export interface Options {
  /** Port of the manager's HTTP API; 0 picks a free one. */
  readonly port: number
  /** Port of the status server; 0 picks a free one. */
  readonly statusPort: number
  /** Multiplies the pause after each step: 1 is 5 s, 0.2 one second. */
  readonly pace: number
  /** Exit once the scenario has run and every group has converged. */
  readonly once: boolean
  /** Where the data lives, as shown in the banner (never the password). */
  readonly databaseLabel: string
}

/** The playground's leader lock key: apart from `converge-instances run`'s default, so both can share a database. */
export const lockKey = 7_000_101

/** A step of the scenario did not show or did not settle in time. */
export class ScenarioStuck extends Data.TaggedError("ScenarioStuck")<{
  readonly step: string
  readonly waitingFor: string
  readonly status: string
}> {
  override get message() {
    return `Step "${this.step}": ${this.waitingFor} did not happen within 2 minutes. Last status: ${this.status}`
  }
}

/** The simulated cloud of the playground: quick creates, a short boot, a roomy API bucket. */
const cloud = {
  type: "simulated",
  createLatency: "100ms",
  deleteLatency: "50ms",
  describeLatency: "10ms",
  bootTime: "1s",
  api: { burst: 100, perSecond: 20 }
}

const short = (id: string) => id.slice(0, 8)

const clockTime = Effect.map(Clock.currentTimeMillis, (millis) =>
  new Date(millis).toISOString().slice(11, 19)
)

/** Prints one line stamped with the wall-clock time. */
const say = (text: string) => Effect.flatMap(clockTime, (time) => Console.log(`${time} ${text}`))

/** Runs the manager, its servers and the scenario until interrupted (or, with `once`, until converged). */
export const run = (options: Options) =>
  Effect.gen(function* () {
    yield* StateSchema.migrate
    const config = yield* ManagerConfig.decode(
      {
        leaderLockKey: lockKey,
        provider: cloud,
        createRateLimit: { burst: 20, perSecond: 10 },
        groups: InstancesScenario.groups
      },
      "the playground's config"
    )
    const configured = (key: string): GroupConfig.GroupConfig | undefined =>
      config.groups.find((group) => group.key === key)
    if (config.provider.type !== "simulated")
      return yield* Effect.die("the playground runs the simulated cloud")
    const simulation = yield* SimulatedProvider.make(config.provider)
    const gate = yield* PgLeaderGate.makeFromClient({ lockKey, name: "playground-instances" })

    // Drains are acknowledged after a second, as a workload moving off would, unless its agent is silenced.
    const scope = yield* Effect.scope
    const silenced = new Set<string>()
    const managerReady = yield* Deferred.make<InstanceManager.InstanceManager>()
    const events: Notifier.Notifier.Service = {
      notifyDrain: (drain) =>
        Effect.gen(function* () {
          yield* say(
            `event: drain ${drain.group}/${short(drain.instanceId)} (${drain.reason}), deleted by ${drain.deleteAt.toISOString().slice(11, 19)} unless acknowledged`
          )
          if (silenced.has(drain.instanceId)) return
          yield* Effect.gen(function* () {
            yield* Effect.sleep("1 second")
            const manager = yield* Deferred.await(managerReady)
            yield* manager.drainAck(drain.instanceId)
            yield* say(`event: drain of ${drain.group}/${short(drain.instanceId)} acknowledged by its agent`)
          }).pipe(
            Effect.catchAll((error) =>
              say(`event: drain ack of ${short(drain.instanceId)} refused: ${error.message}`)
            ),
            Effect.forkIn(scope)
          )
        }),
      notifyError: (error) =>
        say(
          `event: error in ${error.group}${error.instanceId === "" ? "" : `/${short(error.instanceId)}`}: ${error.message}`
        )
    }

    const manager = yield* InstanceManager.make(config).pipe(
      Effect.provideService(Provider.Provider, ManagerMetrics.meteredProvider(simulation.provider)),
      Effect.provideService(LeaderGate.LeaderGate, gate),
      Effect.provideService(Fence.Fence, Fence.make(lockKey)),
      Effect.provideService(Notifier.Notifier, ManagerMetrics.meteredNotifier(events))
    )
    yield* Deferred.succeed(managerReady, manager)
    yield* ManagerMetrics.track(manager.status)
    const agents = yield* SimulatedAgents.make({
      controls: simulation.controls,
      interval: "1 second",
      report: manager.reportHealth
    })

    const servers = yield* Layer.build(
      Layer.merge(
        ApiServer.layer(manager, { port: options.port }),
        StatusServer.layer({ port: options.statusPort, status: manager.status, ready: Effect.succeed(true) })
      )
    )
    const api = Context.get(servers, ApiServer.ApiServer)
    const status = Context.get(servers, StatusServer.StatusServer)
    yield* Console.log(
      [
        "",
        "Converge playground: the instance manager on a simulated cloud (in memory, nothing real is created):",
        `  status   ${status.url}/status`,
        `  metrics  ${status.url}/metrics`,
        `  api      ${api.url}/v1/groups/web`,
        `  data     ${options.databaseLabel}`,
        `  groups   ${config.groups.map((group) => `${group.key}=${group.desiredSize}`).join(", ")}`,
        `  ${InstancesView.legend}`,
        options.once ? "" : "Press Ctrl-C to stop.",
        ""
      ].join("\n")
    )

    // A progress line whenever a group's figures, the leadership or the error count change.
    const lastLine = yield* Ref.make("")
    const printProgress = Effect.gen(function* () {
      const line = InstancesView.progressLine(yield* manager.status.get)
      if ((yield* Ref.getAndSet(lastLine, line)) !== line) yield* say(`instances: ${line}`)
    })
    yield* Effect.forkScoped(Effect.repeat(printProgress, Schedule.spaced("200 millis")))

    const context: InstancesScenario.Context = {
      manager,
      controls: simulation.controls,
      agents,
      configured,
      silenced
    }
    const waitFor = (
      step: string,
      waitingFor: string,
      condition: Effect.Effect<boolean, unknown, SqlClient.SqlClient>
    ) =>
      condition.pipe(
        Effect.repeat({ until: (done) => done, schedule: Schedule.spaced("250 millis") }),
        Effect.timeoutFail({
          duration: "2 minutes",
          onTimeout: () => undefined
        }),
        Effect.catchAll(() =>
          Effect.flatMap(manager.status.get, (current) =>
            Effect.fail(new ScenarioStuck({ step, waitingFor, status: InstancesView.progressLine(current) }))
          )
        )
      )
    const converged = Effect.map(manager.status.get, (current) =>
      InstancesView.converged(current, InstancesScenario.keys)
    )

    yield* waitFor("start", "every group at its desired size", converged)
    yield* say("scenario: start — every group converged")
    const pause = Duration.millis(5_000 * options.pace)
    for (const [index, step] of InstancesScenario.steps.entries()) {
      yield* Effect.sleep(pause)
      const seen = yield* manager.status.changes.pipe(
        Stream.filter(step.visible),
        Stream.runHead,
        Effect.fork
      )
      yield* say(`scenario: ${index + 1}. ${step.description}`)
      yield* step.run(context)
      yield* waitFor(step.description, "its effect in the status", Effect.as(Fiber.join(seen), true))
      yield* waitFor(step.description, "convergence", step.settled(context))
      yield* say(`scenario: ${index + 1}. settled — ${InstancesView.progressLine(yield* manager.status.get)}`)
    }
    yield* say("scenario: done — every group converged after every step")
    if (options.once) return
    return yield* Effect.never
  }).pipe(Effect.scoped)
