/**
 * The relay's sources: the mode table's specs built as real HTTP sources against the upstream
 * FDv2 server, plus the cache file (read by the cache initializer, written after every applied
 * change set).
 */
import type { FileSystem, HttpClient, Path } from "@effect/platform"
import { Duration, Effect } from "effect"
import * as ConnectionMode from "../ConnectionMode.js"
import type * as Store from "../Store.js"
import * as CacheFile from "../sources/CacheFile.js"
import * as CacheFileInitializer from "../sources/CacheFileInitializer.js"
import * as Fdv1PollingSynchronizer from "../sources/Fdv1PollingSynchronizer.js"
import * as PollingInitializer from "../sources/PollingInitializer.js"
import * as PollingSynchronizer from "../sources/PollingSynchronizer.js"
import * as StreamingSynchronizer from "../sources/StreamingSynchronizer.js"

/** Where the sources connect and where the cache lives. */
export interface Options {
  /** The upstream FDv2 server's base URL. */
  readonly upstream: string
  /** The cache file's path. */
  readonly cacheFile: string
}

/** The relay's source factory and cache writer. */
export interface UpstreamSources {
  readonly factory: ConnectionMode.SourceFactory
  /** Writes the store to the cache file; a failure is logged (the relay keeps serving). */
  readonly persist: (store: Store.Store) => Effect.Effect<void>
}

/** Builds the sources over the `HttpClient`, `FileSystem` and `Path` in context. */
export const make = (
  options: Options
): Effect.Effect<UpstreamSources, never, HttpClient.HttpClient | FileSystem.FileSystem | Path.Path> =>
  Effect.map(Effect.context<HttpClient.HttpClient | FileSystem.FileSystem | Path.Path>(), (context) => {
    const endpoints = { baseUrl: options.upstream }
    const initializer = ConnectionMode.InitializerSpec.$match({
      Cache: () => CacheFileInitializer.make(options.cacheFile),
      Polling: () => PollingInitializer.make(endpoints)
    })
    const synchronizer = ConnectionMode.SynchronizerSpec.$match({
      Streaming: () => StreamingSynchronizer.make(endpoints),
      Polling: ({ interval }) =>
        PollingSynchronizer.make({ ...endpoints, interval: Duration.decode(interval) }),
      Fdv1Polling: ({ interval }) =>
        Fdv1PollingSynchronizer.make({ ...endpoints, interval: Duration.decode(interval) })
    })
    return {
      factory: {
        initializer: (spec) => Effect.provide(initializer(spec), context),
        synchronizer: (spec) => Effect.provide(synchronizer(spec), context)
      },
      persist: (store) =>
        CacheFile.write(options.cacheFile, store).pipe(
          Effect.catchTag("CacheFileWriteError", (error) => Effect.logWarning(error.message)),
          Effect.provide(context)
        )
    }
  })
