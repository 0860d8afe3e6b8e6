/** The embedded Postgres server: real binaries, `wal_level=logical`, a free port, clean stop. */
export * as EmbeddedPostgres from "./EmbeddedPostgres.js"
/** LISTEN as a stream that reconnects, watchdogs itself and emits `Resubscribed`; transactional `notify`. */
export * as Notifications from "./Notifications.js"
/** Leadership on a Postgres advisory lock: a `LeaderGate` with a durable fencing term, stepping down at once on loss. */
export * as PgLeaderGate from "./PgLeaderGate.js"
