import { describe, expect, it } from "@effect/vitest"
import { Cause, Data, Effect, HashMap, Logger, LogLevel, Metric, Ref, Schema } from "effect"
import * as Observer from "../src/Observer.js"
import * as Status from "../src/Status.js"

type JobEvent = Data.TaggedEnum<{
  Started: { readonly total: number }
  Progress: { readonly done: number }
  Completed: { readonly durationMs: number }
  Failed: { readonly reason: string }
}>
const JobEvent = Data.taggedEnum<JobEvent>()

const JobStatus = Schema.Struct({
  phase: Schema.Literal("idle", "running", "completed", "failed"),
  done: Schema.Number,
  total: Schema.Number,
  lastError: Schema.NullOr(Schema.String)
})
type JobStatus = typeof JobStatus.Type

const idle: JobStatus = { phase: "idle", done: 0, total: 0, lastError: null }

const reduceJob = (state: JobStatus, event: JobEvent): JobStatus =>
  JobEvent.$match(event, {
    Started: ({ total }) => ({ ...state, phase: "running" as const, total, done: 0 }),
    Progress: ({ done }) => ({ ...state, done }),
    Completed: () => ({ ...state, phase: "completed" as const }),
    Failed: ({ reason }) => ({ ...state, phase: "failed" as const, lastError: reason })
  })

interface LogLine {
  readonly level: string
  readonly message: unknown
  readonly annotations: Record<string, unknown>
  readonly cause: string
}

/** A logger that keeps every line, so tests can assert what was logged. */
const captureLogs = () => {
  const lines: Array<LogLine> = []
  const logger = Logger.make<unknown, void>(({ logLevel, message, annotations, cause }) => {
    lines.push({
      level: logLevel.label,
      message: Array.isArray(message) && message.length === 1 ? message[0] : message,
      annotations: Object.fromEntries(HashMap.toEntries(annotations)),
      cause: Cause.isEmpty(cause) ? "" : Cause.pretty(cause)
    })
  })
  return { lines, layer: Logger.replace(Logger.defaultLogger, logger) }
}

describe("Observer", () => {
  it.effect("make logs a failing observer's error with the event tag and never propagates it", () => {
    const logs = captureLogs()
    return Effect.gen(function* () {
      const observer = Observer.make((event: JobEvent) =>
        event._tag === "Failed" ? Effect.fail(new Error(`cannot record ${event.reason}`)) : Effect.void
      )
      yield* observer.notify(JobEvent.Failed({ reason: "disk full" }))
      yield* observer.notify(JobEvent.Completed({ durationMs: 5 }))
      expect(logs.lines).toHaveLength(1)
      expect(logs.lines[0]).toMatchObject({
        level: "ERROR",
        message: "observer failed",
        annotations: { event: "Failed" }
      })
      expect(logs.lines[0]?.cause).toContain("cannot record disk full")
    }).pipe(Effect.provide(logs.layer))
  })

  it.effect("make also contains defects", () => {
    const logs = captureLogs()
    return Effect.gen(function* () {
      const observer = Observer.make((_: JobEvent) => Effect.die("bug in observer"))
      const exit = yield* Effect.exit(observer.notify(JobEvent.Completed({ durationMs: 5 })))
      expect(exit._tag).toBe("Success")
      expect(logs.lines[0]?.cause).toContain("bug in observer")
    }).pipe(Effect.provide(logs.layer))
  })

  it.effect("statusObserver folds a lifecycle into the status: Started → Progress×N → Completed", () =>
    Effect.gen(function* () {
      const status = yield* Status.make(JobStatus, idle)
      const observer = Observer.statusObserver(status, reduceJob)
      yield* observer.notify(JobEvent.Started({ total: 3 }))
      expect(yield* status.get).toEqual({ phase: "running", done: 0, total: 3, lastError: null })
      for (const done of [1, 2, 3]) yield* observer.notify(JobEvent.Progress({ done }))
      expect((yield* status.get).done).toBe(3)
      yield* observer.notify(JobEvent.Completed({ durationMs: 5 }))
      expect(yield* status.get).toEqual({ phase: "completed", done: 3, total: 3, lastError: null })
    })
  )

  it.effect(
    "statusObserver folds a failed run: Started → Progress → Failed keeps the progress and the error",
    () =>
      Effect.gen(function* () {
        const status = yield* Status.make(JobStatus, idle)
        const observer = Observer.statusObserver(status, reduceJob)
        yield* observer.notify(JobEvent.Started({ total: 10 }))
        yield* observer.notify(JobEvent.Progress({ done: 4 }))
        yield* observer.notify(JobEvent.Failed({ reason: "connection reset" }))
        expect(yield* status.get).toEqual({
          phase: "failed",
          done: 4,
          total: 10,
          lastError: "connection reset"
        })
      })
  )

  it.effect("metricsObserver maps events to Effect metrics", () =>
    Effect.gen(function* () {
      const jobEvents = Metric.counter("observer_test_job_events_total", { incremental: true })
      const observer = Observer.metricsObserver((event: JobEvent) =>
        Metric.increment(Metric.tagged(jobEvents, "event", event._tag))
      )
      yield* observer.notify(JobEvent.Progress({ done: 1 }))
      yield* observer.notify(JobEvent.Progress({ done: 2 }))
      yield* observer.notify(JobEvent.Completed({ durationMs: 5 }))
      expect((yield* Metric.value(Metric.tagged(jobEvents, "event", "Progress"))).count).toBe(2)
      expect((yield* Metric.value(Metric.tagged(jobEvents, "event", "Completed"))).count).toBe(1)
    })
  )

  it.effect("logObserver logs each event's tag at the chosen level, with its fields as annotations", () => {
    const logs = captureLogs()
    return Effect.gen(function* () {
      const observer = Observer.logObserver<JobEvent>({ level: LogLevel.Warning })
      yield* observer.notify(JobEvent.Progress({ done: 7 }))
      expect(logs.lines).toEqual([
        { level: "WARN", message: "Progress", annotations: { done: 7 }, cause: "" }
      ])
    }).pipe(Effect.provide(logs.layer))
  })

  it.effect("contramap adapts an observer to another event type; filter passes only matching events", () =>
    Effect.gen(function* () {
      const seen = yield* Ref.make<ReadonlyArray<string>>([])
      const tags: Observer.Observer<string> = { notify: (tag) => Ref.update(seen, (all) => [...all, tag]) }
      const observer = Observer.filter(
        Observer.contramap(tags, (event: JobEvent) => event._tag),
        (event: JobEvent) => event._tag !== "Progress"
      )
      yield* observer.notify(JobEvent.Started({ total: 1 }))
      yield* observer.notify(JobEvent.Progress({ done: 1 }))
      yield* observer.notify(JobEvent.Completed({ durationMs: 5 }))
      expect(yield* Ref.get(seen)).toEqual(["Started", "Completed"])
    })
  )
})
