/**
 * `converge-playground flags`: the flag orchestrator's local FDv2 server, a relay against it, and
 * the scripted scenario of flag changes and faults (`SampleScenario`), printing each step and,
 * whenever the relay's flags or status change, what it serves (`GET /flags`) and its `/status`.
 *
 * ```text
 *   SampleScenario ──admin calls──▶ Fdv2Server ──FDv2 stream / poll──▶ Relay ──▶ GET /flags, /status
 *                                                                        │ store / status changes
 *                                                                        ▼
 *                                                            "relay: …" line (read over HTTP)
 * ```
 */
import { join } from "node:path"
import { Fdv2Server, Relay, type RelayConfig, SampleScenario } from "@converge/flag-orchestrator"
import { FileSystem, HttpClient, type HttpClientError, HttpClientResponse } from "@effect/platform"
import type { PlatformError } from "@effect/platform/Error"
import type { ServeError } from "@effect/platform/HttpServerError"
import {
  type ConfigError,
  Console,
  Context,
  Data,
  Effect,
  Layer,
  type ParseResult,
  Ref,
  Schedule,
  Schema,
  Stream
} from "effect"

/** How `flags` runs. */
export interface Options {
  /** Port of the local FDv2 server (and its admin API); 0 picks a free one. */
  readonly serverPort: number
  /** Port of the relay's flags API; 0 picks a free one. */
  readonly relayPort: number
  /** Port of the relay's status server; 0 picks a free one. */
  readonly statusPort: number
  /** Multiplies the scenario's delays: 1 is real time (about 35 s), 0.2 five times faster. */
  readonly pace: number
  /** Exit once the scenario has run and the relay serves the server's latest flags. */
  readonly once: boolean
}

/** The relay did not catch up with the server's flags within two minutes (before or after the scenario). */
export class RelayBehind extends Data.TaggedError("RelayBehind")<{
  readonly serverState: string
  readonly relayState: string
}> {
  override get message() {
    return `The relay still serves flags at selector ${JSON.stringify(this.relayState)} after two minutes, but the server is at ${JSON.stringify(this.serverState)}: check the relay's /status for its last error.`
  }
}

/** The flags the server starts with; the scenario changes them. */
export const initialFlags = { flag: { "new-checkout": { on: false } }, segment: {} }

const FlagsBody = Schema.Struct({
  selector: Schema.Struct({ state: Schema.String, version: Schema.Number }),
  flags: Schema.Record({ key: Schema.String, value: Schema.Unknown })
})

const StatusBody = Schema.Struct({
  data: Schema.Struct({
    state: Schema.String,
    error: Schema.optional(Schema.Struct({ category: Schema.String, message: Schema.String }))
  }),
  mode: Schema.String,
  dataFrom: Schema.NullOr(Schema.String)
})

const getJson = <A, I>(client: HttpClient.HttpClient, url: string, schema: Schema.Schema<A, I>) =>
  client.get(url).pipe(Effect.flatMap(HttpClientResponse.schemaBodyJson(schema)), Effect.scoped)

/** One line of what the relay serves and how it is, read over its real HTTP endpoints. */
const describeRelay = (client: HttpClient.HttpClient, relay: Context.Tag.Service<Relay.Relay>) =>
  Effect.gen(function* () {
    const flags = yield* getJson(client, `${relay.url}/flags`, FlagsBody)
    const status = yield* getJson(client, `${relay.statusUrl}/status`, StatusBody)
    const error =
      status.data.error === undefined ? "" : ` (${status.data.error.category}: ${status.data.error.message})`
    return [
      `relay: GET /flags ${JSON.stringify(flags.flags)} at version ${flags.selector.version}`,
      `status ${status.data.state}${error}`,
      `mode ${status.mode}`,
      `from ${status.dataFrom ?? "nothing yet"}`
    ].join(" · ")
  })

/** Runs the server, the relay and the scenario; with `once`, returns when the relay has caught up. */
export const run = (
  options: Options
): Effect.Effect<
  void,
  | RelayBehind
  | RelayConfig.RelayConfigError
  | ServeError
  | ConfigError.ConfigError
  | PlatformError
  | HttpClientError.HttpClientError
  | ParseResult.ParseError,
  FileSystem.FileSystem | HttpClient.HttpClient
> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const client = yield* HttpClient.HttpClient
    const cacheDirectory = yield* fs.makeTempDirectoryScoped({ prefix: "converge-playground-flags-" })
    const server = Context.get(
      yield* Layer.build(Fdv2Server.layer({ port: options.serverPort, initial: initialFlags })),
      Fdv2Server.Fdv2Server
    )
    const relay = Context.get(
      yield* Layer.build(
        Relay.layerFromOptions({
          upstream: server.url,
          port: options.relayPort,
          statusPort: options.statusPort,
          cacheFile: join(cacheDirectory, "flags-cache.json")
        })
      ),
      Relay.Relay
    )
    yield* Console.log(
      [
        "",
        "Converge playground: the flag relay is running against a local FDv2 server:",
        `  relay    ${relay.url}/flags (stream: ${relay.url}/flags/stream)`,
        `  status   ${relay.statusUrl}/status`,
        `  ready    ${relay.statusUrl}/readyz`,
        `  server   ${server.url} (admin: ${server.url}/admin/flags)`,
        `  scenario ${SampleScenario.steps.length} steps of flag changes and faults${options.once ? ", then exit" : ""}`,
        "Press Ctrl-C to stop.",
        ""
      ].join("\n")
    )

    // Print what the relay serves whenever its flags, status or mode change (once per burst).
    const lastLine = yield* Ref.make("")
    yield* Stream.mergeAll(
      [
        Stream.map(relay.dataSystem.storeChanges, () => undefined),
        Stream.map(relay.dataSystem.status.changes, () => undefined),
        Stream.map(relay.dataSystem.modeChanges, () => undefined)
      ],
      { concurrency: "unbounded" }
    ).pipe(
      Stream.debounce("100 millis"),
      Stream.runForEach(() =>
        describeRelay(client, relay).pipe(
          Effect.flatMap((line) =>
            Ref.getAndSet(lastLine, line).pipe(
              Effect.flatMap((previous) => (previous === line ? Effect.void : Console.log(line)))
            )
          ),
          Effect.catchAll((error) => Effect.logWarning("flags: could not read the relay", error))
        )
      ),
      Effect.forkScoped
    )

    // The scenario starts once the relay serves the server's initial flags, so its first line
    // always shows them (under load the first change could otherwise land before it is printed).
    const initial = yield* server.data.snapshot
    yield* getJson(client, `${relay.url}/flags`, FlagsBody).pipe(
      Effect.filterOrFail(
        (body) => body.selector.state === initial.state,
        (body) => new RelayBehind({ serverState: initial.state, relayState: body.selector.state })
      ),
      Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo("120 seconds")))
    )
    const first = yield* describeRelay(client, relay)
    if ((yield* Ref.getAndSet(lastLine, first)) !== first) yield* Console.log(first)

    yield* SampleScenario.run({ adminUrl: server.url, pace: options.pace })
    const latest = yield* server.data.snapshot
    yield* Console.log(`flags: scenario done; the server is at version ${latest.version}`)
    if (!options.once) return yield* Effect.never
    yield* getJson(client, `${relay.url}/flags`, FlagsBody).pipe(
      Effect.map((body) => body.selector.state),
      Effect.orElseSucceed(() => "(no answer)"),
      Effect.filterOrFail(
        (state) => state === latest.state,
        (state) => new RelayBehind({ serverState: latest.state, relayState: state })
      ),
      Effect.retry(Schedule.spaced("200 millis").pipe(Schedule.upTo("120 seconds")))
    )
    yield* Console.log(yield* describeRelay(client, relay))
    yield* Console.log(
      `flags: the relay serves the server's latest flags (version ${latest.version}); exiting`
    )
  }).pipe(Effect.scoped)
