/** The admin server on `server.admin_bind`: `POST /reindex`. */
export * as AdminServer from "./admin/AdminServer.js"
/** What the CLI asks a running daemon over HTTP: reindex on the admin bind, `/status` on the status bind. */
export * as DaemonClient from "./admin/DaemonClient.js"
/** Backfill of one index from a REPEATABLE READ snapshot, with progress, then marked seeded. */
export * as Backfill from "./backfill/Backfill.js"
/** `converge-cdc backfill`: ensure publication, tables and slot, backfill what is not seeded (or forced), exit. */
export * as OneShot from "./backfill/OneShot.js"
/** One stderr line per start and backfill event, for people following a one-shot backfill. */
export * as ProgressLines from "./backfill/ProgressLines.js"
/** WAL positions as bigints: parse and format `X/Y`. */
export * as Lsn from "./capture/Lsn.js"
/** Live capture with pg-logical-replication (pgoutput): transaction parts on a bounded queue, manual acks. */
export * as ReplicationStream from "./capture/ReplicationStream.js"
/** A row change as logical decoding reports it (text values, old and new images). */
export * as RowChange from "./capture/RowChange.js"
/** The configuration Schema: source, sinks, indexes with their relations, failure policy, batching. */
export * as CdcConfig from "./config/CdcConfig.js"
/** Reading a YAML configuration file with errors naming the file, the path and the expectation. */
export * as ConfigFile from "./config/ConfigFile.js"
/** A configuration problem found against the database, with its fix; `ConfigInvalid` carries them all. */
export * as Problem from "./config/Problem.js"
/** `validate-config`: the configuration checked against the live source database, reading only. */
export * as Validation from "./config/Validation.js"
/** The sync as one Effect: start, then live capture with heartbeat and lag poll. */
export * as Daemon from "./Daemon.js"
/** The reverse mapping: which root ids a batch of row changes affects, through old and new row images. */
export * as AffectedRoots from "./documents/AffectedRoots.js"
/** Builds an index's documents for a set of root ids; reports the ids whose root is gone. */
export * as DocumentBuilder from "./documents/DocumentBuilder.js"
/** The one SQL query per index that builds nested documents for a set of root ids. */
export * as DocumentQuery from "./documents/DocumentQuery.js"
/** The events the sync reports (backfill progress, batches, lag, errors) for status, metrics and logs. */
export * as CdcEvent from "./observe/CdcEvent.js"
/** The `converge_cdc_*` metrics, mirrored from the events by an observer. */
export * as CdcMetrics from "./observe/CdcMetrics.js"
/** What `/status` shows, folded from the events. */
export * as CdcStatus from "./observe/CdcStatus.js"
/** The live loop: resolve, build, write, flush, then acknowledge whole transactions. */
export * as LivePipeline from "./pipeline/LivePipeline.js"
/** One reindex: a next generation built from a snapshot while live capture serves, then swapped in. */
export * as Reindex from "./reindex/Reindex.js"
/** Background reindexes of a running daemon, one per index at a time. */
export * as Reindexer from "./reindex/Reindexer.js"
/** Everything before live capture, in the order that leaves no first-run gap. */
export * as Startup from "./Startup.js"
/** What the source catalog says about a table: columns, primary key, replica identity, ownership. */
export * as Catalog from "./schema/Catalog.js"
/** An index resolved against the catalog: the tree of tables and joins its documents are built from. */
export * as IndexPlan from "./schema/IndexPlan.js"
/** Resolving a configured index into an `IndexPlan`, collecting every problem. */
export * as Resolve from "./schema/Resolve.js"
/** The opensearch sink: generations behind an alias, capped _bulk writes versioned by LSN, item rejections. */
export * as OpenSearchSink from "./sinks/OpenSearchSink.js"
/** The postgres sink: a table per index with a generated, GIN-indexed tsvector; LSN-guarded upserts and tombstones. */
export * as PostgresSink from "./sinks/PostgresSink.js"
/** The sink contract: batched writes tagged with LSNs, per-document rejections, flush, seeded markers. */
export * as Sink from "./sinks/Sink.js"
/** The stdout sink: JSON lines written out on flush. */
export * as StdoutSink from "./sinks/StdoutSink.js"
/** The webhook sink: JSON batches with an idempotency key, bounded retries, receiver rejections. */
export * as WebhookSink from "./sinks/WebhookSink.js"
/** Creating or extending the publication to cover every table the indexes read. */
export * as Publication from "./source/Publication.js"
/** The replication slot: created with pgoutput before the snapshot; `SlotLost` when its WAL is gone. */
export * as Slot from "./source/Slot.js"
/** Server checks: wal_level, replication role, slot plugin, publication coverage and rights. */
export * as SourceChecks from "./source/SourceChecks.js"
