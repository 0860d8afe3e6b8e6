/**
 * Runs a shape end to end through pg-boss flows (`dependsOn`): `instances` PgBoss instances on
 * the same database (each with its own pool and its own background flow resolver, gated
 * cluster-wide to one pass per `flowIntervalSeconds`), flows inserted with `flow()`, then
 * (timed) workers `fetch()` jobs and `complete()` them until every job completed. Dependency
 * resolution runs as pg-boss runs it: in its background loop, or additionally in an `eager`
 * loop calling `resolveFlow()` back to back (not a documented setting: pg-boss's ceiling when
 * its interval is taken out).
 */
import { Data, Effect, Ref } from "effect"
import { PgBoss } from "pg-boss"
import * as Shapes from "./Shapes.js"

/** How pg-boss resolves dependencies in a run. */
export type Resolution =
  | { readonly _tag: "Interval"; readonly flowIntervalSeconds: number }
  | { readonly _tag: "Eager" }

/** How a run is driven. */
export interface Options {
  readonly instances: number
  readonly workers: number
  readonly fetchBatch: number
  readonly resolution: Resolution
}

/** What one run measured. */
export interface Measured {
  readonly seconds: number
  readonly executions: number
  readonly edges: number
}

/** A pg-boss call failed; `message` names the call. */
export class PgBossFailed extends Data.TaggedError("PgBossFailed")<{
  readonly message: string
  readonly cause: unknown
}> {}

const idle = Effect.sleep("2 millis")

const attempt = <A>(step: string, promise: () => Promise<A>) =>
  Effect.tryPromise({
    try: promise,
    catch: (cause) => new PgBossFailed({ message: `pg-boss ${step} failed: ${String(cause)}`, cause })
  })

/** Starts `count` instances on `url` (stopped when the scope closes). */
const startInstances = (url: string, count: number, resolution: Resolution) =>
  Effect.forEach(
    Array.from({ length: count }, (_, index) => index),
    () =>
      Effect.acquireRelease(
        attempt("start", async () => {
          const boss = new PgBoss({
            connectionString: url,
            ...(resolution._tag === "Interval" ? { flowIntervalSeconds: resolution.flowIntervalSeconds } : {})
          })
          // pg-boss types its events with the generic EventEmitter of newer @types/node than this repo's.
          const events: NodeJS.EventEmitter = boss as unknown as NodeJS.EventEmitter
          events.on("error", (error: unknown) => console.error("pg-boss error:", error))
          await boss.start()
          return boss
        }),
        (boss) => Effect.promise(() => boss.stop({ graceful: false }))
      )
  )

/**
 * Inserts `shape`'s flows on a new `queue`, runs them to the end and returns the timed part.
 * Earlier runs on the database must be finished.
 */
export const run = (url: string, shape: Shapes.Shape, options: Options, queue: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const bosses = yield* startInstances(url, options.instances, options.resolution)
      const first = bosses[0]
      if (first === undefined) return yield* Effect.dieMessage("pg-boss: at least one instance is needed")
      yield* attempt("createQueue", () => first.createQueue(queue))
      const jobs = Shapes.toFlowJobs(shape.dag, queue)
      yield* Effect.forEach(
        Array.from({ length: shape.flows }, (_, index) => index),
        () => attempt("flow", () => first.flow(jobs)),
        { concurrency: 4, discard: true }
      )
      const total = Shapes.executionCount(shape)
      const completed = yield* Ref.make(0)
      const worker = (boss: PgBoss) =>
        Effect.gen(function* () {
          while ((yield* Ref.get(completed)) < total) {
            const fetched = yield* attempt("fetch", () =>
              boss.fetch(queue, { batchSize: options.fetchBatch })
            )
            if (fetched.length === 0) {
              yield* idle
              continue
            }
            yield* attempt("complete", () =>
              boss.complete(
                queue,
                fetched.map((job) => job.id)
              )
            )
            yield* Ref.update(completed, (count) => count + fetched.length)
          }
        })
      const workers = Array.from({ length: options.workers }, (_, index) =>
        worker(bosses[index % bosses.length] ?? first)
      )
      const eagerResolver = Effect.gen(function* () {
        while ((yield* Ref.get(completed)) < total) yield* attempt("resolveFlow", () => first.resolveFlow())
      })
      const started = performance.now()
      yield* Effect.all(options.resolution._tag === "Eager" ? [...workers, eagerResolver] : workers, {
        concurrency: "unbounded",
        discard: true
      })
      const seconds = (performance.now() - started) / 1000
      return { seconds, executions: total, edges: Shapes.edgeCount(shape) } satisfies Measured
    })
  )

/** A label for a resolution setting. */
export const describe = (resolution: Resolution): string =>
  resolution._tag === "Eager"
    ? "eager resolveFlow() loop"
    : `flowIntervalSeconds ${resolution.flowIntervalSeconds}`
