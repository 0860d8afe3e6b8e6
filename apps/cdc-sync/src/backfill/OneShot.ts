/**
 * `converge-cdc backfill`: the start of the daemon without live capture. It ensures the
 * publication, the sinks' indexes and the replication slot (so live capture started later misses
 * nothing), backfills the indexes not seeded yet — or, with `force`, the named ones (all when none
 * is named) again — with progress on stderr, and returns.
 */
import { PgDatabase } from "@converge/pg"
import { Effect } from "effect"
import * as ConfigFile from "../config/ConfigFile.js"
import * as Main from "../main.js"
import { UnknownIndex } from "../reindex/Reindexer.js"
import * as Startup from "../Startup.js"
import * as ProgressLines from "./ProgressLines.js"

/** Options of `converge-cdc backfill`. */
export interface Options {
  readonly configFile: string
  /** Only these indexes (empty: every index). */
  readonly indexes: ReadonlyArray<string>
  /** Backfill even indexes already seeded. */
  readonly force: boolean
  readonly pageSize?: number | undefined
}

/** Runs the one-shot backfill; returns the names of the configured indexes it considered. */
export const run = (options: Options) =>
  Effect.gen(function* () {
    const config = yield* ConfigFile.load(options.configFile)
    const url = yield* Main.sourceUrl(options.configFile, config)
    const known = config.indexes.map((index) => index.name)
    for (const index of options.indexes) {
      if (!known.includes(index)) return yield* new UnknownIndex({ index, known })
    }
    const sinks = yield* Main.sinksOf(config, url)
    yield* Startup.prepare(config, sinks, ProgressLines.observer, {
      only: options.indexes.length === 0 ? undefined : options.indexes,
      force: options.force,
      backfillPageSize: options.pageSize
    }).pipe(Effect.provide(PgDatabase.layer({ url, applicationName: "converge-cdc-backfill" })))
    return options.indexes.length === 0 ? known : options.indexes
  })
