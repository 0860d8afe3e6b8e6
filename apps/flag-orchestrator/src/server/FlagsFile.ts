/**
 * The flags file `serve-fdv2 --flags FILE` starts from: JSON objects by kind and key.
 *
 * ```json
 * { "flags": { "new-checkout": { "on": true, "variation": 1 } }, "segments": { "beta": { "included": ["a"] } } }
 * ```
 *
 * Both kinds are optional; each value is the object served for that key. A file that cannot be read,
 * is not JSON or has the wrong shape fails with a `FlagsFileError` naming the file and the fix.
 */
import { FileSystem } from "@effect/platform"
import { Data, Effect, Either, ParseResult, Schema } from "effect"

/** The objects a server starts with, by kind (`flag`, `segment`) then key. */
export interface InitialData {
  readonly flag: Readonly<Record<string, unknown>>
  readonly segment: Readonly<Record<string, unknown>>
}

/** No flags and no segments. */
export const emptyData: InitialData = { flag: {}, segment: {} }

/** The flags file could not be used; `message` names the file, the problem and the fix. */
export class FlagsFileError extends Data.TaggedError("FlagsFileError")<{
  readonly path: string
  readonly message: string
}> {}

const FileShape = Schema.Struct({
  flags: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.Unknown }), {
    default: () => ({})
  }),
  segments: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.Unknown }), {
    default: () => ({})
  })
})

const expected = 'Expected {"flags": {"<key>": {…}}, "segments": {"<key>": {…}}} (both optional)'

/** Parses the text of a flags file read from `path`. */
export const parse = (path: string, text: string): Either.Either<InitialData, FlagsFileError> => {
  const json = Either.try({
    try: (): unknown => JSON.parse(text),
    catch: () => new FlagsFileError({ path, message: `Flags file ${path} is not valid JSON. ${expected}.` })
  })
  return Either.flatMap(json, (value) =>
    Schema.decodeUnknownEither(FileShape)(value).pipe(
      Either.map((file): InitialData => ({ flag: file.flags, segment: file.segments })),
      Either.mapLeft((error) => {
        const [issue] = ParseResult.ArrayFormatter.formatErrorSync(error)
        const where = issue === undefined || issue.path.length === 0 ? "the top level" : issue.path.join(".")
        return new FlagsFileError({
          path,
          message: `Flags file ${path} has the wrong shape at ${where}. ${expected}.`
        })
      })
    )
  )
}

/** Reads and parses the flags file at `path`. */
export const load = (path: string): Effect.Effect<InitialData, FlagsFileError, FileSystem.FileSystem> =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.readFileString(path)).pipe(
    Effect.mapError(
      (error) =>
        new FlagsFileError({
          path,
          message: `Cannot read flags file ${path} (${error._tag === "SystemError" ? error.reason : "bad argument"}). Check the path and its permissions.`
        })
    ),
    Effect.flatMap((text) => parse(path, text))
  )
