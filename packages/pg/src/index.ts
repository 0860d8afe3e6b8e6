/** The embedded Postgres server: real binaries, `wal_level=logical`, a free port, clean stop. */
export * as EmbeddedPostgres from "./EmbeddedPostgres.js"
