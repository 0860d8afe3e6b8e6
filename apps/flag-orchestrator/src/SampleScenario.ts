/**
 * A scripted sequence of flag changes and faults against a `serve-fdv2` admin API, for the
 * playground: it shows a relay (or any FDv2 client) applying changes and riding out goodbyes,
 * dropped connections, error events, HTTP 503s and invalid data.
 *
 * ```text
 *   run({ adminUrl }) ──every step: sleep(after × pace) ──▶ HTTP admin call ──▶ log "scenario: …"
 * ```
 *
 * A failed admin call (the server restarting, say) is logged and the scenario goes on. Time comes
 * from Effect's `Clock`, so `TestClock` drives it and `pace: 0` runs it without waiting.
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { Duration, Effect } from "effect"

/** One admin call of the scenario, `after` the previous one. */
export interface Step {
  readonly after: Duration.Duration
  readonly description: string
  readonly method: "PUT" | "POST" | "DELETE"
  readonly path: string
  readonly body?: unknown
}

const step = (
  afterSeconds: number,
  description: string,
  method: Step["method"],
  path: string,
  body?: unknown
): Step => ({
  after: Duration.seconds(afterSeconds),
  description,
  method,
  path,
  ...(body === undefined ? {} : { body })
})

/** The scenario's steps, in order (about 35 s at pace 1). */
export const steps: ReadonlyArray<Step> = [
  step(2, "roll new-checkout out to 10 %", "PUT", "/admin/flags/new-checkout", { on: true, rollout: 10 }),
  step(3, "raise new-checkout to 50 %", "PUT", "/admin/flags/new-checkout", { on: true, rollout: 50 }),
  step(3, "the server says goodbye: the stream is recycled after 1 s", "POST", "/admin/faults/goodbye", {
    reason: "scenario"
  }),
  step(3, "turn dark-mode on", "PUT", "/admin/flags/dark-mode", { on: true }),
  step(3, "drop every stream: clients reconnect with their basis", "POST", "/admin/faults/drop"),
  step(3, "an error event: the half-sent batch is discarded", "POST", "/admin/faults/error", {
    reason: "scenario"
  }),
  step(3, "delete dark-mode", "DELETE", "/admin/flags/dark-mode"),
  step(3, "the next 3 requests answer HTTP 503", "POST", "/admin/faults/status", { status: 503, count: 3 }),
  step(0, "drop every stream: reconnects meet the 503s (interrupted, backoff)", "POST", "/admin/faults/drop"),
  step(
    8,
    "invalid data on every stream: a categorized interruption, the store untouched",
    "POST",
    "/admin/faults/invalid-data",
    {
      count: 1
    }
  ),
  step(4, "new-checkout to everyone", "PUT", "/admin/flags/new-checkout", { on: true, rollout: 100 })
]

/** How to run the scenario. */
export interface Options {
  /** The `serve-fdv2` base URL, e.g. `http://127.0.0.1:8030`. */
  readonly adminUrl: string
  /** Multiplies every step's delay: 1 (default) is real time, 0 runs without waiting. */
  readonly pace?: number
  /** Runs the steps again and again until interrupted. Default false. */
  readonly loop?: boolean
}

const call = (client: HttpClient.HttpClient, adminUrl: string, current: Step) => {
  const url = `${adminUrl.replace(/\/$/, "")}${current.path}`
  const request =
    current.method === "PUT"
      ? HttpClientRequest.put(url)
      : current.method === "POST"
        ? HttpClientRequest.post(url)
        : HttpClientRequest.del(url)
  return client
    .execute(current.body === undefined ? request : HttpClientRequest.bodyUnsafeJson(request, current.body))
    .pipe(
      Effect.flatMap((response) =>
        response.status >= 200 && response.status < 300
          ? Effect.logInfo(`scenario: ${current.description}`)
          : Effect.logWarning(
              `scenario: ${current.description} — the server answered HTTP ${response.status}`
            )
      ),
      Effect.catchAll(() =>
        Effect.logWarning(`scenario: ${current.description} — the server could not be reached`)
      ),
      Effect.scoped
    )
}

/** Runs the steps once (or forever with `loop`) against `adminUrl`. */
export const run = (options: Options): Effect.Effect<void, never, HttpClient.HttpClient> =>
  Effect.gen(function* () {
    const client = yield* HttpClient.HttpClient
    const pace = options.pace ?? 1
    const once = Effect.forEach(
      steps,
      (current) =>
        Effect.sleep(Duration.times(current.after, pace)).pipe(
          Effect.zipRight(call(client, options.adminUrl, current))
        ),
      { discard: true }
    )
    yield* options.loop === true ? Effect.forever(once) : once
  })
