/** A fresh database per test file on the run's Postgres server, with a `PgClient` layer. */

/** Real child processes for end-to-end and crash tests: await `/readyz`, watch output, SIGKILL. */
export * as ProcessHarness from "./ProcessHarness.js"
/** Driving `TestClock` through loops that do real I/O between timers. */
export * as TestClocks from "./TestClocks.js"
export * as TestDatabase from "./TestDatabase.js"
