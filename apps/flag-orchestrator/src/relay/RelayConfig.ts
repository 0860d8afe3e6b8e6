/**
 * The relay's config file (`--config FILE`): YAML or JSON (YAML is a superset), every field optional.
 *
 * ```yaml
 * upstream: http://127.0.0.1:8030   # the FDv2 server (overridden by --upstream)
 * port: 8040                         # the flags API (GET /flags …); 0 picks a free port
 * statusPort: 9464                   # /status /metrics /healthz /readyz; 0 picks a free port
 * cacheFile: flags-cache.json        # written on every applied change set, read at start
 * mode: streaming                    # the foreground mode: streaming | polling | offline
 * runInBackground: false             # in the background: poll (true) or go offline (false)
 * debounceWindowMs: 1000
 * fallbackTimeoutSeconds: 120
 * recoveryTimeoutSeconds: 300
 * recoveryStart: run-start           # or valid-window
 * recycleDelayMs: 1000
 * pollIntervalSeconds: 300
 * backgroundPollIntervalSeconds: 3600
 * ```
 *
 * A bad file fails with a `RelayConfigError` naming the file, the field and what was expected.
 */
import { FileSystem } from "@effect/platform"
import { Data, Duration, Effect, Either, ParseResult, Schema } from "effect"
import { parse as parseYaml } from "yaml"
import * as ConnectionMode from "../ConnectionMode.js"
import type * as Orchestrator from "../Orchestrator.js"

const Port = Schema.Int.pipe(
  Schema.between(0, 65535),
  Schema.annotations({ message: () => "a port from 0 to 65535 (0 picks a free one)" })
)
const Seconds = Schema.Number.pipe(
  Schema.nonNegative(),
  Schema.annotations({ message: () => "a number of seconds, 0 or more" })
)
const Millis = Schema.Number.pipe(
  Schema.nonNegative(),
  Schema.annotations({ message: () => "a number of milliseconds, 0 or more" })
)
const Url = Schema.String.pipe(
  Schema.filter((text) => URL.canParse(text), {
    message: () => "an absolute URL such as http://127.0.0.1:8030"
  })
)

/** The file's schema, with the defaults filled in. */
export const RelayConfigFile = Schema.Struct({
  upstream: Schema.optionalWith(Url, { exact: true }),
  host: Schema.optionalWith(Schema.String, { default: () => "127.0.0.1" }),
  port: Schema.optionalWith(Port, { default: () => 8040 }),
  statusPort: Schema.optionalWith(Port, { default: () => 9464 }),
  cacheFile: Schema.optionalWith(Schema.String, { default: () => "flags-cache.json" }),
  mode: Schema.optionalWith(ConnectionMode.ForegroundMode, { default: () => "streaming" as const }),
  runInBackground: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  debounceWindowMs: Schema.optionalWith(Millis, { default: () => 1000 }),
  fallbackTimeoutSeconds: Schema.optionalWith(Seconds, { default: () => 120 }),
  recoveryTimeoutSeconds: Schema.optionalWith(Seconds, { default: () => 300 }),
  recoveryStart: Schema.optionalWith(Schema.Literal("run-start", "valid-window"), {
    default: () => "run-start" as const
  }),
  recycleDelayMs: Schema.optionalWith(Millis, { default: () => 1000 }),
  pollIntervalSeconds: Schema.optionalWith(Seconds.pipe(Schema.positive()), { default: () => 300 }),
  backgroundPollIntervalSeconds: Schema.optionalWith(Seconds.pipe(Schema.positive()), { default: () => 3600 })
})

/** A decoded config: every field present. */
export type RelayConfig = typeof RelayConfigFile.Type

/** The config with no file: every default, no upstream. */
export const defaults: RelayConfig = Schema.decodeUnknownSync(RelayConfigFile)({})

/** The config file could not be used; `message` names the file, the field and the expectation. */
export class RelayConfigError extends Data.TaggedError("RelayConfigError")<{
  readonly path: string
  readonly message: string
}> {}

/** Parses the text of the config file at `path` (YAML or JSON). */
export const parse = (path: string, text: string): Either.Either<RelayConfig, RelayConfigError> => {
  const document = Either.try({
    try: (): unknown => parseYaml(text),
    catch: () =>
      new RelayConfigError({ path, message: `Config file ${path} is neither valid YAML nor JSON.` })
  })
  return Either.flatMap(document, (value) =>
    Schema.decodeUnknownEither(RelayConfigFile, { onExcessProperty: "error" })(value ?? {}).pipe(
      Either.mapLeft((error) => {
        const issues = ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) => {
          const field = issue.path.length === 0 ? "(the document)" : issue.path.map(String).join(".")
          const expected =
            issue._tag === "Unexpected"
              ? "is not a known field (check its spelling)"
              : `expected ${issue.message}`
          return `${field}: ${expected}`
        })
        return new RelayConfigError({ path, message: `Config file ${path} is invalid: ${issues.join("; ")}` })
      })
    )
  )
}

/** Reads and parses the config file at `path`. */
export const load = (path: string): Effect.Effect<RelayConfig, RelayConfigError, FileSystem.FileSystem> =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.readFileString(path)).pipe(
    Effect.mapError(
      () => new RelayConfigError({ path, message: `Config file ${path} cannot be read: check the path.` })
    ),
    Effect.flatMap((text) => parse(path, text))
  )

/** The orchestration timing the config asks for. */
export const orchestratorOptions = (config: RelayConfig): Orchestrator.Options => ({
  fallbackTimeout: Duration.seconds(config.fallbackTimeoutSeconds),
  recoveryTimeout: Duration.seconds(config.recoveryTimeoutSeconds),
  recoveryStart: config.recoveryStart,
  recycleDelay: Duration.millis(config.recycleDelayMs)
})

/** The mode table the config asks for. */
export const modeTable = (config: RelayConfig): ConnectionMode.ModeTable =>
  ConnectionMode.defaultTable({
    pollInterval: Duration.seconds(config.pollIntervalSeconds),
    backgroundPollInterval: Duration.seconds(config.backgroundPollIntervalSeconds)
  })
