import { LeaderGate } from "@converge/core"
import { Clock, Duration, Effect, Schema, TestClock } from "effect"
import * as ManagerConfig from "../src/config/ManagerConfig.js"
import { SimulatedProviderConfig } from "../src/config/ProviderConfig.js"
import * as InstanceManager from "../src/InstanceManager.js"
import { Provider } from "../src/provider/Provider.js"
import * as SimulatedAgents from "../src/provider/SimulatedAgents.js"
import * as SimulatedProvider from "../src/provider/SimulatedProvider.js"
import { Notifier, type NotifyDrain, type NotifyError } from "../src/reconciler/Notifier.js"
import * as Fence from "../src/state/Fence.js"
import * as InstanceStore from "../src/state/InstanceStore.js"
import { leadOn, makeGate } from "./helpers.js"

/** A simulation with no latency and a generous API bucket, so passes never wait on the clock. */
export const instantCloud = {
  createLatency: 0,
  deleteLatency: 0,
  describeLatency: 0,
  bootTime: 0,
  api: { burst: 100_000, perSecond: 100_000 }
}

/** Starts a manager on a real Postgres leader gate, a simulated cloud, recording notifiers, and agents. */
export const startManager = (options: {
  readonly yaml: string
  readonly lockKey: number
  readonly cloud?: Record<string, unknown>
  readonly agentInterval?: Duration.DurationInput
  /** Share a simulated cloud between managers. */
  readonly simulation?: SimulatedProvider.Simulation
  /** Start without waiting for leadership (a standby). */
  readonly standby?: boolean
  /** The global create rate limit (default: high enough never to wait). */
  readonly createRateLimit?: { readonly burst: number; readonly perSecond: number }
  /** The event queue's capacity (default 10 000). */
  readonly eventQueueCapacity?: number
}) =>
  Effect.gen(function* () {
    const config = yield* ManagerConfig.decodeYaml(
      [
        `leaderLockKey: ${options.lockKey}`,
        `createRateLimit: ${JSON.stringify(options.createRateLimit ?? { burst: 100_000, perSecond: 100_000 })}`,
        `eventQueueCapacity: ${options.eventQueueCapacity ?? 10_000}`,
        options.yaml
      ].join("\n"),
      "test.yaml"
    )
    const simulation =
      options.simulation ??
      (yield* SimulatedProvider.make(
        Schema.decodeUnknownSync(SimulatedProviderConfig)({
          type: "simulated",
          ...instantCloud,
          ...options.cloud
        })
      ))
    const drains: Array<NotifyDrain> = []
    const errors: Array<NotifyError> = []
    const notifier = {
      notifyDrain: (drain: NotifyDrain) => Effect.sync(() => void drains.push(drain)),
      notifyError: (error: NotifyError) => Effect.sync(() => void errors.push(error))
    }
    const gate = yield* Effect.orDie(
      options.standby === true ? makeGate(options.lockKey) : leadOn(options.lockKey)
    )
    const manager = yield* InstanceManager.make(config).pipe(
      Effect.provideService(Provider, simulation.provider),
      Effect.provideService(LeaderGate.LeaderGate, gate),
      Effect.provideService(Fence.Fence, Fence.make(options.lockKey)),
      Effect.provideService(Notifier, notifier)
    )
    const agents = yield* SimulatedAgents.make({
      controls: simulation.controls,
      interval: options.agentInterval ?? "10 seconds",
      report: manager.reportHealth
    })
    return { config, manager, simulation, drains, errors, agents, gate }
  })

/**
 * Waits for the controller to go idle, for at most 30 s of real time: a pass that never ends is a
 * failure with a message, not a hung test.
 */
export const settle = (manager: InstanceManager.InstanceManager) =>
  manager.controller.awaitIdle.pipe(
    Effect.timeoutFail({
      duration: "30 seconds",
      onTimeout: () =>
        "the controller did not go idle within 30 s of real time (a pass is stuck, or leadership was lost)"
    }),
    Effect.withClock(Clock.make())
  )

/**
 * Moves `TestClock` by `step` at a time, letting the controller finish its work (real database
 * I/O) before each step, until `condition` holds; fails after `max` of simulated time.
 */
export const advanceUntil = <E, R>(
  manager: InstanceManager.InstanceManager,
  condition: Effect.Effect<boolean, E, R>,
  options: { readonly step: Duration.DurationInput; readonly max: Duration.DurationInput }
): Effect.Effect<Duration.Duration, E | string, R> =>
  Effect.gen(function* () {
    const step = Duration.decode(options.step)
    const max = Duration.toMillis(options.max)
    let elapsed = 0
    for (;;) {
      yield* settle(manager)
      if (yield* condition) return Duration.millis(elapsed)
      if (elapsed >= max)
        return yield* Effect.fail(
          `condition not met after ${Duration.format(Duration.millis(max))} of simulated time`
        )
      yield* TestClock.adjust(step)
      elapsed += Duration.toMillis(step)
    }
  })

/** Moves `TestClock` by `total`, `step` at a time, letting the controller finish its work before each step. */
export const advance = <E = never, R = never>(
  manager: InstanceManager.InstanceManager,
  total: Duration.DurationInput,
  step: Duration.DurationInput = "1 second",
  afterEachStep: Effect.Effect<void, E, R> = Effect.void
) =>
  Effect.gen(function* () {
    const steps = Math.ceil(Duration.toMillis(total) / Duration.toMillis(step))
    for (let index = 0; index < steps; index++) {
      yield* settle(manager)
      yield* afterEachStep
      yield* TestClock.adjust(step)
    }
    yield* settle(manager)
    yield* afterEachStep
  })

/** The group's live instances. */
export const live = (group: string, tenant = "default") => InstanceStore.listLive(tenant, group)

/** How many live instances the group has. */
export const liveCount = (group: string, tenant = "default") =>
  Effect.map(live(group, tenant), (rows) => rows.length)
