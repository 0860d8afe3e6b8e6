/**
 * The playground: a sample controller converging a desired set of items against an actual set
 * in Postgres, with injected failures and steady churn, served by a status server.
 *
 * ```text
 *   churn every N s ──▶ playground_desired ──ids──▶ Controller("playground") ──▶ playground_actual
 *   resync every 30 s ─────────────────────────────▶      │ events
 *                                                         ▼
 *                           StatusServer ◀── Status ◀── statusObserver      census every 1 s ──▶ Status
 * ```
 */
import { Controller, LeaderGate, Observer, Status } from "@converge/core"
import { StatusServer } from "@converge/http"
import { Console, Context, type Duration, Effect, Layer, Queue, Schedule, Stream } from "effect"
import * as Inventory from "./Inventory.js"
import * as ItemReconciler from "./ItemReconciler.js"
import * as PlaygroundStatus from "./PlaygroundStatus.js"

/** How the playground runs. */
export interface Options {
  /** Status server port; 0 picks a free one. */
  readonly port: number
  /** Items in the desired set at start. */
  readonly items: number
  /** Chance (0–1) that a reconcile fails on purpose. */
  readonly failureRate: number
  /** How often the desired set changes; 0 turns churn off. */
  readonly churnEvery: Duration.Duration
  /** Where the data lives, as shown in the status (never the password). */
  readonly databaseLabel: string
}

/** Runs the playground until interrupted (Ctrl-C); needs a `SqlClient`. */
export const run = (options: Options) =>
  Effect.gen(function* () {
    yield* Inventory.migrate
    yield* Inventory.seed(options.items)
    const status = yield* Status.make(
      PlaygroundStatus.PlaygroundStatus,
      PlaygroundStatus.initial(new Date(), options.databaseLabel)
    )
    const changedIds = yield* Queue.unbounded<string>()
    yield* Controller.make({
      name: "playground",
      reconcile: ItemReconciler.make(options.failureRate),
      concurrency: 4,
      resync: { every: "30 seconds", keys: Inventory.listIds },
      triggers: [Stream.fromQueue(changedIds)],
      observer: Observer.statusObserver(status, PlaygroundStatus.reduce)
    })
    const server = yield* Layer.build(StatusServer.layer({ port: options.port, status })).pipe(
      Effect.map(Context.get(StatusServer.StatusServer))
    )
    yield* Console.log(
      [
        "",
        "Converge playground is running:",
        `  status   ${server.url}/status`,
        `  metrics  ${server.url}/metrics`,
        `  health   ${server.url}/healthz`,
        `  data     ${options.databaseLabel}`,
        "Press Ctrl-C to stop.",
        ""
      ].join("\n")
    )
    const takeCensus = Inventory.census.pipe(
      Effect.flatMap((census) => status.update((current) => PlaygroundStatus.withCensus(current, census)))
    )
    yield* Effect.forkScoped(Effect.repeat(takeCensus, Schedule.spaced("1 second")))
    if (options.churnEvery.value._tag !== "Millis" || options.churnEvery.value.millis > 0) {
      const churn = Inventory.churn(options.items).pipe(Effect.flatMap((ids) => changedIds.offerAll(ids)))
      yield* Effect.forkScoped(Effect.repeat(churn, Schedule.spaced(options.churnEvery)))
    }
    return yield* Effect.never
  }).pipe(Effect.scoped, Effect.provide(LeaderGate.always))
