/**
 * `converge-playground cdc`: cdc-sync in this process, syncing a live bookstore into the postgres
 * sink, with a full-text search over the sink table printed every few seconds.
 *
 * ```text
 *   CdcBookstore.write (N changes/s) ──▶ authors · books · reviews ──logical replication──▶ Daemon
 *                                                                                          │
 *   search line every few s ◀── websearch_to_tsquery over search.books ◀── postgres sink ◀─┘
 *   status server: /status (CdcStatus), /metrics (converge_cdc_*), /readyz (live)
 * ```
 */

import { type CdcEvent, CdcMetrics, CdcStatus, ConfigFile, Daemon, PostgresSink } from "@converge/cdc-sync"
import { Observer, Status } from "@converge/core"
import { StatusServer } from "@converge/http"
import { PgDatabase } from "@converge/pg"
import { PgClient } from "@effect/sql-pg"
import { Console, Context, Duration, Effect, Layer, Redacted, Ref, Schedule } from "effect"
import * as CdcBookstore from "./CdcBookstore.js"
import * as CdcSearch from "./CdcSearch.js"

/** The sync's configuration, as a user would write it in `cdc.yaml`. */
export const configYaml = `
source:
  slot: playground_cdc
  publication: playground_cdc
sinks:
  search: { type: postgres, schema: search, text_search_config: english }
batch: { max_changes: 256, max_wait_ms: 50 }
indexes:
  - name: books
    table: books
    fields: [id, title, year, blurb]
    searchable: [title, blurb, author.name, reviews.body]
    relations:
      author: { kind: belongs_to, table: authors, foreign_key: author_id, fields: [name, country] }
      reviews:
        kind: has_many
        table: reviews
        foreign_key: book_id
        fields: [rating, body]
        order_by: [id desc]
        limit: 5
`

/** How `cdc` runs. */
export interface Options {
  /** Status server port; 0 picks a free one. */
  readonly statusPort: number
  /** Changes the writer makes per second. */
  readonly rate: number
  /** How often the search line is printed. */
  readonly searchEvery: Duration.DurationInput
  /** The search; none: each line searches the next word of `CdcBookstore.words`. */
  readonly query: string | undefined
  /** Where the data lives, as shown in the banner (never the password). */
  readonly databaseLabel: string
}

/** The events worth a log line (the per-batch ones show in the search line and in /status instead). */
const logged = new Set<CdcEvent.CdcEvent["_tag"]>([
  "PublicationEnsured",
  "SlotEnsured",
  "SlotRecreated",
  "BackfillStarted",
  "IndexSeeded",
  "BackfillSkipped",
  "LiveStarted",
  "IndexStale",
  "ErrorOccurred"
])

/** Sets up the bookstore, runs the sync, the writer and the search line until interrupted (Ctrl-C). */
export const run = (options: Options) =>
  Effect.gen(function* () {
    const client = yield* PgClient.PgClient
    const url = client.config.url === undefined ? undefined : Redacted.value(client.config.url)
    if (url === undefined) return yield* Effect.dieMessage("cdc: the playground's database has no URL")
    const config = yield* ConfigFile.parse("cdc.yaml", configYaml)
    yield* CdcBookstore.setUp

    const status = yield* Status.make(CdcStatus.CdcStatus, CdcStatus.initial(new Date(), ["books"]))
    const observer = Observer.make((event: CdcEvent.CdcEvent) =>
      Effect.all(
        [
          status.update((current) => CdcStatus.reduce(current, event)),
          CdcMetrics.observer.notify(event),
          logged.has(event._tag) ? Observer.logObserver<CdcEvent.CdcEvent>().notify(event) : Effect.void
        ],
        { discard: true }
      )
    )
    const server = yield* Layer.build(
      StatusServer.layer({
        port: options.statusPort,
        status,
        ready: Effect.map(status.get, (current) => current.phase === "live")
      })
    ).pipe(Effect.map((context) => Context.get(context, StatusServer.StatusServer)))
    yield* Console.log(
      [
        "",
        "Converge playground: cdc-sync is syncing a bookstore into the postgres sink:",
        `  status   ${server.url}/status`,
        `  metrics  ${server.url}/metrics`,
        `  ready    ${server.url}/readyz`,
        `  data     ${options.databaseLabel}`,
        `  source   authors, books, reviews; a writer makes ${options.rate} changes/s`,
        `  sink     search.books (jsonb document, tsvector search column with a GIN index)`,
        `  try      SELECT document->>'title' FROM search.books WHERE search @@ websearch_to_tsquery('english', 'dragon');`,
        "Press Ctrl-C to stop.",
        ""
      ].join("\n")
    )

    // The sink on a pool of its own, as `converge-cdc run` builds it (with COPY for backfills).
    const sinkDatabase = yield* Layer.build(
      PgDatabase.layer({ url, applicationName: "converge-cdc-sink-search" })
    )
    const sink = yield* PostgresSink.make({
      name: "search",
      schema: "search",
      textSearchConfig: "english"
    }).pipe(Effect.provide(sinkDatabase))
    const written = yield* Ref.make(0)
    yield* Effect.forkScoped(CdcBookstore.write(options.rate, () => Ref.update(written, (n) => n + 1)))

    const round = yield* Ref.make(0)
    const printSearch = Effect.gen(function* () {
      const n = yield* Ref.getAndUpdate(round, (value) => value + 1)
      const query = options.query ?? CdcBookstore.words[n % CdcBookstore.words.length] ?? "dragon"
      const result = yield* CdcSearch.search("search", "books", query).pipe(Effect.either)
      const line = CdcSearch.line(query, result, yield* status.get, yield* Ref.get(written))
      yield* Console.log(`cdc: ${line}`)
    })
    yield* Effect.forkScoped(
      Effect.repeat(printSearch, Schedule.spaced(options.searchEvery)).pipe(Effect.delay(options.searchEvery))
    )

    return yield* Daemon.run(config, {
      url,
      sinks: [sink],
      observer,
      lagPollInterval: Duration.seconds(2)
    })
  }).pipe(Effect.scoped)
