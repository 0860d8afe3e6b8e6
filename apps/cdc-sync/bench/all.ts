/**
 * Runs the cdc-sync benchmarks one after the other, each in a fresh node process (its own
 * embedded Postgres and heap), passing `--quick` and any other arguments through.
 *
 *   node --import tsx --expose-gc bench/all.ts [--quick]
 */
import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"

const benchmarks = [
  "cdc-live-throughput",
  "cdc-backfill-throughput",
  "cdc-latency",
  "cdc-backlog-memory"
] as const

for (const name of benchmarks) {
  console.log(`\n== ${name}`)
  const started = performance.now()
  const file = fileURLToPath(new URL(`./${name}.ts`, import.meta.url))
  const run = spawnSync(
    process.execPath,
    ["--import", "tsx", "--expose-gc", file, ...process.argv.slice(2)],
    {
      stdio: "inherit"
    }
  )
  if (run.status !== 0) {
    console.error(`${name} failed (exit ${run.status ?? run.signal})`)
    process.exit(1)
  }
  console.log(`${name} took ${((performance.now() - started) / 1000).toFixed(0)} s`)
}
