/**
 * Runs a program as a real child process for end-to-end and crash tests: wait until it serves
 * `/readyz`, watch its output, and SIGKILL it at a chosen point.
 *
 * ```ts
 * const app = yield* ProcessHarness.start({ command: process.execPath, args: ["--import", "tsx", "src/bin.ts", "run"] })
 * yield* app.awaitReady("http://127.0.0.1:8080/readyz")
 * const exit = yield* app.killWhen((line) => line.text.includes("batch committed"))
 * ```
 *
 * The child runs in its own process group and signals go to the whole group, so wrappers such as
 * the `tsx` CLI or `npm run` cannot shield the real program. Closing the scope SIGKILLs the group.
 * Waits inside use the real clock, so the harness also works under `TestClock`.
 */
import * as ChildProcess from "node:child_process"
import * as Readline from "node:readline"
import type { Readable } from "node:stream"
import { FetchHttpClient, HttpClient } from "@effect/platform"
import type { Scope } from "effect"
import {
  Clock,
  Data,
  Deferred,
  Duration,
  Effect,
  Exit,
  Option,
  PubSub,
  Ref,
  Schedule,
  Stream,
  Take
} from "effect"

/** What to run. The environment is the parent's, with `env` on top. */
export interface Options {
  readonly command: string
  readonly args?: ReadonlyArray<string> | undefined
  readonly env?: Readonly<Record<string, string>> | undefined
  readonly cwd?: string | undefined
}

/** One line the process printed, and on which stream. */
export interface OutputLine {
  readonly stream: "stdout" | "stderr"
  readonly text: string
}

/** How the process ended: an exit code, or the signal that killed it. */
export interface ProcessExit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

/** A started child process. */
export interface RunningProcess {
  readonly pid: number
  /** Every line printed so far, then each new one; ends when the process closes its output. */
  readonly output: Stream.Stream<OutputLine>
  /** The last lines printed (both streams), oldest first: for assertions and error messages. */
  readonly recentOutput: Effect.Effect<ReadonlyArray<OutputLine>>
  /**
   * Polls `url` over HTTP until it answers 2xx. Fails if the process exits first or `timeout`
   * (default 30 s) passes, with the last attempt's result and the process's recent output.
   */
  readonly awaitReady: (
    url: string,
    options?: { readonly timeout?: Duration.DurationInput; readonly interval?: Duration.DurationInput }
  ) => Effect.Effect<void, ProcessNotReadyError>
  /** Sends `signal` (default SIGKILL) to the process group and waits for the process to exit (see `exit`). */
  readonly kill: (signal?: NodeJS.Signals) => Effect.Effect<ProcessExit>
  /**
   * Waits for the first line (already printed or new) matching `predicate`, then sends `signal`
   * (default SIGKILL) and waits for the exit. Fails if the output ends without a match.
   */
  readonly killWhen: (
    predicate: (line: OutputLine) => boolean,
    signal?: NodeJS.Signals
  ) => Effect.Effect<ProcessExit, OutputLineNotSeenError>
  /** Waits for the process to exit on its own (and for whatever it started that shares its output). */
  readonly exit: Effect.Effect<ProcessExit>
}

/** The command could not be started (e.g. it does not exist or is not executable). */
export class ProcessStartError extends Data.TaggedError("ProcessStartError")<{
  readonly message: string
  readonly cause: unknown
}> {}

/** The process did not become ready: it exited first, or the deadline passed. */
export class ProcessNotReadyError extends Data.TaggedError("ProcessNotReadyError")<{
  readonly reason: "Exited" | "Timeout"
  readonly message: string
  readonly url: string
  readonly exit: Option.Option<ProcessExit>
  readonly recentOutput: ReadonlyArray<OutputLine>
}> {}

/** The process's output ended without the line `killWhen` waited for. */
export class OutputLineNotSeenError extends Data.TaggedError("OutputLineNotSeenError")<{
  readonly message: string
  readonly exit: ProcessExit
  readonly recentOutput: ReadonlyArray<OutputLine>
}> {}

const recentLineCount = 30
const killGraceOnClose = Duration.seconds(10)
const attemptTimeout = Duration.seconds(2)
const liveClock = Clock.make()

/** Starts the process; closing the scope SIGKILLs its process group if it still runs. */
export const start = (options: Options): Effect.Effect<RunningProcess, ProcessStartError, Scope.Scope> =>
  Effect.gen(function* () {
    const description = [options.command, ...(options.args ?? [])].join(" ")
    const lines = yield* PubSub.unbounded<Take.Take<OutputLine>>({ replay: Number.MAX_SAFE_INTEGER })
    let recent: ReadonlyArray<OutputLine> = []
    const recentOutput = Effect.sync(() => recent)
    const exited = yield* Deferred.make<ProcessExit>()

    const child = yield* Effect.acquireRelease(spawn(options, description), (child) =>
      Deferred.isDone(exited).pipe(
        Effect.flatMap((done) =>
          // Also when the process itself is gone: whatever it started in its group goes too.
          signalGroup(child, "SIGKILL").pipe(
            Effect.zipRight(
              done ? Effect.void : Deferred.await(exited).pipe(Effect.timeout(killGraceOnClose))
            ),
            Effect.withClock(liveClock),
            Effect.ignore
          )
        )
      )
    )
    const remember = (line: OutputLine) => {
      recent = [...recent, line].slice(-recentLineCount)
      lines.unsafeOffer(Take.of(line))
    }
    Readline.createInterface({ input: child.stdout }).on("line", (text) =>
      remember({ stream: "stdout", text })
    )
    Readline.createInterface({ input: child.stderr }).on("line", (text) =>
      remember({ stream: "stderr", text })
    )
    // "close" rather than "exit": it comes once every process sharing the output pipes (e.g. the
    // real program under a wrapper) is gone, so a killed process no longer holds its port.
    child.once("close", (code, signal) => {
      lines.unsafeOffer(Take.end)
      Deferred.unsafeDone(exited, Exit.succeed({ code, signal }))
    })

    const output = Stream.fromPubSub(lines).pipe(Stream.flattenTake)
    const exit = Deferred.await(exited)
    const kill = (signal: NodeJS.Signals = "SIGKILL") =>
      Deferred.isDone(exited).pipe(
        Effect.flatMap((done) => (done ? exit : signalGroup(child, signal).pipe(Effect.zipRight(exit))))
      )

    return {
      pid: child.pid ?? 0,
      output,
      recentOutput,
      awaitReady: (url, readyOptions) =>
        awaitReady(url, description, exit, recentOutput, readyOptions?.timeout, readyOptions?.interval),
      kill,
      killWhen: (predicate, signal) =>
        output.pipe(
          Stream.filter(predicate),
          Stream.runHead,
          Effect.flatMap(
            Option.match({
              onSome: () => kill(signal),
              onNone: () =>
                Effect.all([exit, recentOutput]).pipe(
                  Effect.flatMap(([processExit, recentOutput]) =>
                    Effect.fail(
                      new OutputLineNotSeenError({
                        message: withRecentOutput(
                          `${description} ${describeExit(processExit)} without printing the awaited line`,
                          recentOutput
                        ),
                        exit: processExit,
                        recentOutput
                      })
                    )
                  )
                )
            })
          )
        ),
      exit
    } satisfies RunningProcess
  })

const spawn = (options: Options, description: string) =>
  Effect.async<ChildProcess.ChildProcessByStdio<null, Readable, Readable>, ProcessStartError>((resume) => {
    const child = ChildProcess.spawn(options.command, options.args ?? [], {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      detached: true,
      stdio: ["ignore", "pipe", "pipe"]
    })
    const onError = (cause: Error) =>
      resume(
        Effect.fail(
          new ProcessStartError({ message: `Could not start ${description}: ${cause.message}`, cause })
        )
      )
    child.once("error", onError)
    child.once("spawn", () => {
      child.off("error", onError)
      // Later errors (e.g. a failed kill) surface through `exit`; never crash the test runner.
      child.on("error", () => undefined)
      resume(Effect.succeed(child))
    })
  })

const signalGroup = (child: ChildProcess.ChildProcess, signal: NodeJS.Signals): Effect.Effect<void> =>
  Effect.try(() => {
    if (child.pid !== undefined) process.kill(-child.pid, signal)
  }).pipe(Effect.ignore)

const awaitReady = (
  url: string,
  description: string,
  exit: Effect.Effect<ProcessExit>,
  recentOutput: Effect.Effect<ReadonlyArray<OutputLine>>,
  timeout: Duration.DurationInput = Duration.seconds(30),
  interval: Duration.DurationInput = Duration.millis(100)
): Effect.Effect<void, ProcessNotReadyError> =>
  Effect.gen(function* () {
    const lastAttempt = yield* Ref.make("none yet")
    const probe = HttpClient.get(url).pipe(
      Effect.mapError((error) => error.message),
      Effect.flatMap((response) =>
        response.status >= 200 && response.status < 300
          ? Effect.void
          : Effect.fail(`answered ${response.status}`)
      ),
      Effect.timeoutFail({ duration: attemptTimeout, onTimeout: () => "no answer in time" }),
      Effect.tapError((attempt) => Ref.set(lastAttempt, attempt))
    )
    const ready = probe.pipe(Effect.retry(Schedule.spaced(interval)), Effect.orDie)
    const outcome = yield* Effect.raceFirst(ready.pipe(Effect.as("ready" as const)), exit).pipe(
      Effect.timeoutOption(timeout)
    )
    if (Option.isSome(outcome) && outcome.value === "ready") return
    // Not ready: either the process exited first (Some) or the deadline passed (None).
    const processExit = Option.filter(outcome, (value): value is ProcessExit => value !== "ready")
    const attempt = yield* Ref.get(lastAttempt)
    const lines = yield* recentOutput
    return yield* new ProcessNotReadyError({
      reason: Option.isSome(processExit) ? "Exited" : "Timeout",
      message: withRecentOutput(
        Option.match(processExit, {
          onSome: (processExit) =>
            `${description} ${describeExit(processExit)} before ${url} was ready (last attempt: ${attempt})`,
          onNone: () =>
            `${url} was not ready within ${Duration.format(timeout)} (last attempt: ${attempt}); ${description} is still running`
        }),
        lines
      ),
      url,
      exit: processExit,
      recentOutput: lines
    })
  }).pipe(Effect.provide(FetchHttpClient.layer), Effect.withClock(liveClock))

const describeExit = (exit: ProcessExit): string =>
  exit.signal !== null ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`

const withRecentOutput = (message: string, lines: ReadonlyArray<OutputLine>): string =>
  lines.length === 0
    ? `${message}; it printed nothing`
    : `${message}. Its last output:\n${lines.map((line) => `  [${line.stream}] ${line.text}`).join("\n")}`
