/**
 * The cache file initializer: the relay's last persisted store as a `Full` change set without a
 * selector, so the data is served at once while the chain goes on to fetch fresh data. A missing
 * or corrupt file is a failure result (`Interrupted`, categorized), never a crash.
 */
import type { FileSystem } from "@effect/platform"
import { Effect, Option } from "effect"
import * as Source from "../Source.js"
import * as CacheFile from "./CacheFile.js"

/** A cache file initializer reading `path` with the `FileSystem` in context. */
export const make = (path: string): Effect.Effect<Source.Initializer, never, FileSystem.FileSystem> =>
  Effect.map(Effect.context<FileSystem.FileSystem>(), (context) => ({
    name: "cache-file",
    run: () =>
      CacheFile.read(path).pipe(
        Effect.map((changeSet) => Source.Result.ChangeSet({ changeSet })),
        Effect.catchAll((error) =>
          Effect.succeed(
            Source.Result.Interrupted({
              error: new Source.SourceError({
                category: error.reason === "corrupt" ? "invalid-data" : "unknown",
                status: Option.none(),
                message: error.message
              })
            })
          )
        ),
        Effect.provide(context)
      )
  }))
