/**
 * cdc-sync as a library: a configuration, a sink of your own (documents kept in memory), the
 * daemon, and its observability — `/status` folded from the events, `converge_cdc_*` metrics on
 * `/metrics`.
 *
 * The source tables (`comments` logs its full old row so a comment moved to another post updates
 * the old post too):
 *
 * ```sql
 * CREATE TABLE posts (id int PRIMARY KEY, title text NOT NULL);
 * CREATE TABLE comments (id int PRIMARY KEY, post_id int NOT NULL REFERENCES posts(id), body text NOT NULL);
 * ALTER TABLE comments REPLICA IDENTITY FULL;
 * ```
 */
import {
  type CdcConfig,
  type CdcEvent,
  CdcMetrics,
  CdcStatus,
  ConfigFile,
  Daemon,
  type Lsn,
  type Sink
} from "@converge/cdc-sync"
import { Observer, Status } from "@converge/core"
import { StatusServer } from "@converge/http"
import { Context, Effect, Layer, Ref } from "effect"

// #region config
/** The configuration, as it would be written in `cdc.yaml`: posts with their latest comments. */
export const config: Effect.Effect<CdcConfig.CdcConfig, ConfigFile.ConfigFileError> = ConfigFile.parse(
  "cdc.yaml",
  `
source: { slot: blog_slot, publication: blog_pub }
batch: { max_changes: 256, max_wait_ms: 50 }
indexes:
  - name: posts
    table: posts
    fields: [id, title]
    relations:
      comments:
        kind: has_many
        table: comments
        foreign_key: post_id
        fields: [body]
        order_by: [id desc]
        limit: 10
`
)
// #endregion config

// #region sink
/** A stored document: its JSON text and the source position it reflects. */
interface Stored {
  readonly json: string | null
  readonly lsn: Lsn.Lsn
}

/**
 * A sink that keeps documents in memory. It honours the contract: an older write (lower LSN)
 * never overwrites a newer one, deletes keep a tombstone with their LSN, and it keeps no durable
 * state — `isSeeded` is false, so every start backfills.
 */
export const memorySink = (name: string) =>
  Effect.gen(function* () {
    const store = yield* Ref.make(new Map<string, Stored>())
    const put = (writes: ReadonlyArray<Sink.DocumentWrite>) =>
      Effect.as(
        Ref.update(store, (current) => {
          const next = new Map(current)
          for (const write of writes) {
            const key = `${write.index}/${write.id}`
            const previous = next.get(key)
            if (previous === undefined || previous.lsn <= write.lsn)
              next.set(key, { json: write.json, lsn: write.lsn })
          }
          return next
        }),
        { rejected: [] }
      )
    const sink: Sink.Sink = {
      name,
      ensureIndexes: () => Effect.void,
      write: put,
      storeDeadLetters: () => Effect.void,
      flush: Effect.void,
      isSeeded: () => Effect.succeed(false),
      markSeeded: () => Effect.void,
      clearSeeded: () => Effect.void,
      sweep: (index, lsn) =>
        Ref.update(
          store,
          (current) =>
            new Map([...current].filter(([key, stored]) => !key.startsWith(`${index}/`) || stored.lsn >= lsn))
        ),
      beginGeneration: () => Effect.void,
      writeNextGeneration: put,
      swapGeneration: () => Effect.void
    }
    /** The live documents: `index/id` → document. */
    const documents = Effect.map(
      Ref.get(store),
      (current) =>
        new Map(
          [...current].flatMap(([key, stored]) =>
            stored.json === null ? [] : [[key, JSON.parse(stored.json) as unknown] as const]
          )
        )
    )
    return { sink, documents }
  })
// #endregion sink

// #region daemon
/**
 * Runs the sync from the database at `url` (the `SqlClient` in context must point at the same
 * database) into a memory sink for the scope's lifetime, with a status server on a free port.
 */
export const startSync = (url: string) =>
  Effect.gen(function* () {
    const decoded = yield* config
    const { sink, documents } = yield* memorySink("memory")
    const status = yield* Status.make(CdcStatus.CdcStatus, CdcStatus.initial(new Date(), ["posts"]))
    const toStatus = Observer.statusObserver(status, CdcStatus.reduce)
    const observer = Observer.make((event: CdcEvent.CdcEvent) =>
      Effect.zipRight(toStatus.notify(event), CdcMetrics.observer.notify(event))
    )
    const server = yield* Layer.build(
      StatusServer.layer({
        port: 0,
        status,
        ready: Effect.map(status.get, (current) => current.phase === "live")
      })
    )
    yield* Daemon.run(decoded, { url, sinks: [sink], observer }).pipe(
      Effect.tapError((error) => Effect.logError("cdc-sync stopped", error)),
      Effect.forkScoped
    )
    return { statusUrl: Context.get(server, StatusServer.StatusServer).url, documents }
  })
// #endregion daemon
