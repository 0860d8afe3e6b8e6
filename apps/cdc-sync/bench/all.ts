/**
 * Runs the cdc-sync benchmarks one after the other, each in a fresh node process (its own
 * embedded Postgres and heap), passing `--quick` and any other arguments through.
 *
 *   node --import tsx --expose-gc bench/all.ts [--quick]
 */
import { runInTurn } from "@converge/bench"

runInTurn(import.meta.url, [
  "cdc-live-throughput",
  "cdc-backfill-throughput",
  "cdc-latency",
  "cdc-backlog-memory"
])
