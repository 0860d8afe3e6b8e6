/** `withContentionRetry`: reruns a transaction rolled back by contention, with bounded jittered backoff. */
export * as ContentionRetry from "./ContentionRetry.js"
/** The embedded Postgres server: real binaries, `wal_level=logical`, a free port, clean stop. */
export * as EmbeddedPostgres from "./EmbeddedPostgres.js"
/** Per-app migrations (`converge_migrations_<app>`) from `.sql` files or code; one transaction, safe across replicas. */
export * as Migrations from "./Migrations.js"
/** LISTEN as a stream that reconnects, watchdogs itself and emits `Resubscribed`; transactional `notify`. */
export * as Notifications from "./Notifications.js"
/** Bulk loads with `COPY … FROM STDIN` on the database layer's pool; `textRow` formats a row. */
export * as PgCopy from "./PgCopy.js"
/** The database layer: a checked `PgClient` from `DATABASE_URL` or options; `DatabaseUnreachable` says what to check. */
export * as PgDatabase from "./PgDatabase.js"
/** Leadership on a Postgres advisory lock: a `LeaderGate` with a durable fencing term, stepping down at once on loss. */
export * as PgLeaderGate from "./PgLeaderGate.js"
/** SQLSTATE classification into `Contention`, `Conflict`, `TransientConnection` and `Other`. */
export * as SqlState from "./SqlState.js"
