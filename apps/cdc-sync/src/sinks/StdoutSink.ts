/**
 * The `stdout` sink (the default when no sink is configured): one JSON line per write,
 * `{"index","id","op":"upsert"|"delete","lsn","document"}`, or indented JSON with `pretty`. Lines
 * are buffered by `write` and written out by `flush`, which completes once the stream took them (and keeps them for a
 * retry when it failed).
 * It keeps no state, so every start backfills again; a reindex writes its documents as further
 * lines (there is no generation to swap).
 */
import { Effect } from "effect"
import * as Lsn from "../capture/Lsn.js"
import type { Sink } from "./Sink.js"
import { SinkUnavailable } from "./Sink.js"

/** How the sink writes. */
export interface Options {
  readonly name: string
  readonly pretty: boolean
  /** Where text goes; default `process.stdout`. */
  readonly output?: NodeJS.WritableStream | undefined
}

/** A stdout sink. */
export const make = (options: Options): Effect.Effect<Sink> =>
  Effect.sync(() => {
    const output = options.output ?? process.stdout
    let pending: Array<string> = []
    const write: Sink["write"] = (writes) =>
      Effect.sync(() => {
        for (const entry of writes) {
          const line = {
            index: entry.index,
            id: entry.id,
            op: entry.json === null ? "delete" : "upsert",
            lsn: Lsn.format(entry.lsn),
            document: entry.json === null ? null : JSON.parse(entry.json)
          }
          pending.push(options.pretty ? JSON.stringify(line, null, 2) : JSON.stringify(line))
        }
        return { rejected: [] }
      })
    return {
      name: options.name,
      ensureIndexes: () => Effect.void,
      write,
      flush: Effect.suspend(() => {
        if (pending.length === 0) return Effect.void
        const taken = pending.length
        const text = `${pending.join("\n")}\n`
        return Effect.async<void, SinkUnavailable>((resume) => {
          output.write(text, (error) =>
            resume(
              error === null || error === undefined
                ? Effect.sync(() => {
                    pending = pending.slice(taken)
                  })
                : Effect.fail(
                    new SinkUnavailable({
                      sink: options.name,
                      message: `stdout sink: ${error.message}`,
                      cause: error
                    })
                  )
            )
          )
        })
      }),
      // It never rejects a document, so it never has dead letters.
      storeDeadLetters: () => Effect.void,
      isSeeded: () => Effect.succeed(false),
      markSeeded: () => Effect.void,
      clearSeeded: () => Effect.void,
      sweep: () => Effect.void,
      // A stream has no generations: a reindex simply writes its documents out as further lines.
      beginGeneration: () => Effect.void,
      writeNextGeneration: write,
      swapGeneration: () => Effect.void
    }
  })
