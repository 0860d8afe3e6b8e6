/**
 * The relay's cache file: the store as JSON, rewritten after every applied change set and read back
 * by the `CacheFileInitializer` when the relay restarts.
 *
 * ```json
 * { "format": "converge-flags-cache/1", "selector": { "state": "…", "version": 7 },
 *   "items": [{ "kind": "flag", "key": "new-checkout", "version": 7, "object": { … } }] }
 * ```
 *
 * Writes are atomic: the JSON goes to a temporary file in the same directory, which is then renamed
 * over the cache file, so a reader (or a crash) never sees half a file.
 */
import { FileSystem, Path } from "@effect/platform"
import { Data, Effect, Either, Option, Schema } from "effect"
import * as ChangeSet from "../ChangeSet.js"
import * as Selector from "../Selector.js"
import type * as Store from "../Store.js"

/** The format marker of the current cache file layout. */
export const format = "converge-flags-cache/1"

const CachedItem = Schema.Struct({
  kind: Schema.String,
  key: Schema.String,
  version: Schema.Number,
  object: Schema.Unknown
})

/** The cache file's shape. */
export const CacheContents = Schema.Struct({
  format: Schema.Literal(format),
  selector: Schema.Struct({ state: Schema.String, version: Schema.Number }),
  items: Schema.Array(CachedItem)
})

/** The type of `CacheContents`. */
export type CacheContents = typeof CacheContents.Type

/** Writing the cache file failed; the message names the file and the reason. */
export class CacheFileWriteError extends Data.TaggedError("CacheFileWriteError")<{
  readonly path: string
  readonly message: string
}> {}

/** Reading the cache file failed: it is missing, unreadable, not JSON, or not a cache file. */
export class CacheFileReadError extends Data.TaggedError("CacheFileReadError")<{
  readonly path: string
  readonly reason: "missing" | "unreadable" | "corrupt"
  readonly message: string
}> {}

/** The cache contents of `store`: its live objects and its selector. */
export const contentsOf = (store: Store.Store): CacheContents => {
  const items: Array<typeof CachedItem.Type> = []
  for (const [kind, byKey] of store.kinds) {
    for (const [key, item] of byKey) {
      if (Option.isSome(item.object))
        items.push({ kind, key, version: item.version, object: item.object.value })
    }
  }
  return {
    format,
    selector: { state: store.selector.state, version: store.selector.version },
    items
  }
}

let writes = 0

/** Writes `store` to `path` atomically (temporary file, then rename). */
export const write = (
  path: string,
  store: Store.Store
): Effect.Effect<void, CacheFileWriteError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const paths = yield* Path.Path
    const temporary = paths.join(
      paths.dirname(path),
      `.${paths.basename(path)}.${process.pid}.${writes++}.tmp`
    )
    const text = JSON.stringify(contentsOf(store))
    yield* fs.writeFileString(temporary, text).pipe(
      Effect.zipRight(fs.rename(temporary, path)),
      Effect.tapError(() => fs.remove(temporary).pipe(Effect.ignore))
    )
  }).pipe(
    Effect.mapError(
      (error) =>
        new CacheFileWriteError({
          path,
          message: `Cannot write the cache file ${path} (${error._tag === "SystemError" ? error.reason : "bad argument"}). Check that its directory exists and is writable.`
        })
    )
  )

/** Parses cache file text: a `Full` change set of its objects, without a selector. */
export const parse = (path: string, text: string): Either.Either<ChangeSet.ChangeSet, CacheFileReadError> =>
  Either.try({
    try: (): unknown => JSON.parse(text),
    catch: () =>
      new CacheFileReadError({ path, reason: "corrupt", message: `cache file ${path} is not valid JSON` })
  }).pipe(
    Either.flatMap((json) =>
      Either.mapLeft(
        Schema.decodeUnknownEither(CacheContents)(json),
        () =>
          new CacheFileReadError({
            path,
            reason: "corrupt",
            message: `cache file ${path} is not a ${format} cache file`
          })
      )
    ),
    Either.map((contents) =>
      ChangeSet.ChangeSet.Full({
        // Cached data may be stale: it is applied, but the initializer chain goes on.
        selector: Selector.empty,
        updates: contents.items.map((item) => ChangeSet.Update.Put(item))
      })
    )
  )

/** Reads the cache file at `path`. */
export const read = (
  path: string
): Effect.Effect<ChangeSet.ChangeSet, CacheFileReadError, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(path).pipe(
      Effect.mapError(
        (error) =>
          new CacheFileReadError({
            path,
            reason: error._tag === "SystemError" && error.reason === "NotFound" ? "missing" : "unreadable",
            message:
              error._tag === "SystemError" && error.reason === "NotFound"
                ? `no cache file at ${path} yet`
                : `cannot read the cache file ${path}`
          })
      )
    )
    return yield* parse(path, text)
  })
