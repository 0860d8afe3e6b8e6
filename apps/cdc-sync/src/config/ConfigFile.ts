/**
 * Reading a configuration file: YAML parsed with `yaml`, decoded with the `CdcConfig` Schema, and
 * checked for what a Schema cannot see (duplicate index names).
 * Every error names the file, the path inside it and what was expected. `${NAME}` in a string
 * value is the environment variable `NAME` (`EnvironmentReferences`); `DATABASE_URL`, when set,
 * overrides `source.url`.
 */
import { FileSystem } from "@effect/platform"
import { Array as Arr, Config, Data, Effect, Option, ParseResult, Schema } from "effect"
import * as Yaml from "yaml"
import { CdcConfig } from "./CdcConfig.js"
import * as EnvironmentReferences from "./EnvironmentReferences.js"

/** The file could not be read, is not YAML, or does not match the configuration's shape. */
export class ConfigFileError extends Data.TaggedError("ConfigFileError")<{
  readonly file: string
  readonly message: string
}> {}

/** Decodes YAML text, resolving `${NAME}` references from the environment; `file` only names the source in errors. */
export const parse = (file: string, text: string): Effect.Effect<CdcConfig, ConfigFileError> =>
  Effect.gen(function* () {
    const document = Yaml.parseDocument(text, { prettyErrors: true })
    const [yamlError] = document.errors
    if (yamlError !== undefined) {
      return yield* new ConfigFileError({
        file,
        message: `${file}: not valid YAML: ${yamlError.message}`
      })
    }
    const resolved = yield* EnvironmentReferences.resolve(document.toJS()).pipe(
      Effect.mapError(
        (unresolved) =>
          new ConfigFileError({
            file,
            message: [
              `${file}: the configuration refers to the environment:`,
              ...unresolved.map((problem) => `  at ${problem.path}: ${problem.message}`)
            ].join("\n")
          })
      )
    )
    const config = yield* Schema.decodeUnknown(CdcConfig, { errors: "all", onExcessProperty: "error" })(
      resolved
    ).pipe(
      Effect.mapError(
        (error) =>
          new ConfigFileError({
            file,
            message: [
              `${file}: the configuration does not match its expected shape:`,
              ...ParseResult.ArrayFormatter.formatErrorSync(error).map(
                (issue) =>
                  `  at ${issue.path.length === 0 ? "(top)" : issue.path.join(".")}: ${issue.message}`
              )
            ].join("\n")
          })
      )
    )
    const problems = crossChecks(config)
    if (problems.length > 0) {
      return yield* new ConfigFileError({
        file,
        message: [`${file}: the configuration is inconsistent:`, ...problems.map((p) => `  ${p}`)].join("\n")
      })
    }
    return config
  })

/** Reads and decodes `file`, then applies the environment overrides. */
export const load = (file: string): Effect.Effect<CdcConfig, ConfigFileError, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(file).pipe(
      Effect.mapError(
        (error) =>
          new ConfigFileError({
            file,
            message: `${file}: cannot read the configuration file (${error.message}); check the path given with -c`
          })
      )
    )
    return yield* parse(file, text).pipe(Effect.flatMap(withEnvironment))
  })

/** Applies `DATABASE_URL` (when set) as `source.url`. */
export const withEnvironment = (config: CdcConfig): Effect.Effect<CdcConfig> =>
  Config.option(Config.nonEmptyString("DATABASE_URL")).pipe(
    Effect.orElseSucceed(() => Option.none<string>()),
    Effect.map(
      Option.match({
        onNone: () => config,
        onSome: (url) => ({ ...config, source: { ...config.source, url } })
      })
    )
  )

const crossChecks = (config: CdcConfig): ReadonlyArray<string> => {
  const problems: Array<string> = []
  const names = config.indexes.map((index) => index.name)
  for (const name of Arr.dedupe(names)) {
    if (names.filter((n) => n === name).length > 1) {
      problems.push(`indexes: the name "${name}" is used more than once; give each index its own name`)
    }
  }
  return problems
}
