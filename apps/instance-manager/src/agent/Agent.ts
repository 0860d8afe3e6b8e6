/**
 * The sample instance agent: what runs inside an instance of the `process` provider (and the
 * example for real ones). It speaks the manager's HTTP API:
 *
 * ```text
 *   every interval ──POST /v1/instances/<id>/health──────▶ manager   (a failed report is logged, retried next tick)
 *   drain signal (SIGUSR2) ── after drainDelay ──POST /v1/instances/<id>/drain-ack──▶ manager
 *   SIGTERM / SIGINT ──▶ stop reporting, log, exit 0            (the manager's delete)
 * ```
 *
 * The drain signal is sent by the process provider when its `drainSignal` is set; the delay
 * stands for the time a real workload needs to move off (finish requests, hand over work).
 */
import { HttpApiClient, type HttpClient } from "@effect/platform"
import { Duration, Effect, Schedule, type Scope, Stream } from "effect"
import { InstancesApi } from "../http/Api.js"

/** How the agent runs; see `converge-instances agent --help`. */
export interface Options {
  /** The manager's API base URL, e.g. `http://127.0.0.1:8080`. */
  readonly managerUrl: string
  /** The id the manager created the instance under (`CONVERGE_INSTANCE_ID`). */
  readonly instanceId: string
  /** Time between two health reports; keep it well under the group's `healthInterval`. */
  readonly interval: Duration.Duration
  /** Acknowledge drains (on `drainSignal`) after `drainDelay`; `false` leaves the ack to an operator. */
  readonly ackDrains: boolean
  readonly drainDelay: Duration.Duration
  /** The signal that announces a drain (the process provider's `drainSignal`). */
  readonly drainSignal: NodeJS.Signals
}

/** Each time `signal` arrives; the listener is removed when the stream ends. */
const signals = (signal: NodeJS.Signals): Stream.Stream<NodeJS.Signals> =>
  Stream.async<NodeJS.Signals>((emit) => {
    const listener = () => void emit.single(signal)
    process.on(signal, listener)
    return Effect.sync(() => void process.off(signal, listener))
  })

/** Runs the agent until interrupted (SIGTERM / SIGINT under `NodeMain.runMain`). Never fails. */
export const run = (options: Options): Effect.Effect<never, never, HttpClient.HttpClient | Scope.Scope> =>
  Effect.gen(function* () {
    const client = yield* HttpApiClient.make(InstancesApi, { baseUrl: options.managerUrl })
    const path = { instanceId: options.instanceId }
    yield* Effect.logInfo(
      `agent of ${options.instanceId} reporting to ${options.managerUrl} every ${Duration.format(options.interval)}`
    )
    yield* Effect.addFinalizer(() =>
      Effect.logInfo(`agent of ${options.instanceId} stopped: no more reports`)
    )

    let reported = false
    const report = client.instances.health({ path }).pipe(
      Effect.tap(() => {
        if (reported) return Effect.void
        reported = true
        return Effect.logInfo("first health report accepted")
      }),
      Effect.catchAll((error) => Effect.logWarning(`health report failed: ${error.message}`))
    )

    const acknowledge = Effect.gen(function* () {
      yield* Effect.logInfo(`drain requested; acknowledging in ${Duration.format(options.drainDelay)}`)
      yield* Effect.sleep(options.drainDelay)
      yield* client.instances.drainAck({ path }).pipe(
        Effect.retry({ schedule: Schedule.exponential("200 millis"), times: 5 }),
        Effect.tap(() => Effect.logInfo("drain acknowledged")),
        Effect.catchAll((error) => Effect.logWarning(`drain ack failed: ${error.message}`))
      )
    })

    if (options.ackDrains) {
      yield* Effect.forkScoped(signals(options.drainSignal).pipe(Stream.runForEach(() => acknowledge)))
    } else {
      yield* Effect.forkScoped(
        signals(options.drainSignal).pipe(
          Stream.runForEach(() => Effect.logInfo("drain requested; waiting for an operator's drain-ack"))
        )
      )
    }
    return yield* Effect.repeat(report, Schedule.spaced(options.interval)).pipe(Effect.zipRight(Effect.never))
  })
