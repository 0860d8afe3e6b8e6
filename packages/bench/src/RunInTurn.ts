/**
 * Runs an app's benchmark files one after the other, each in a fresh node process (so one's
 * servers, children and heap never weigh on the next), passing this process's arguments
 * (`--quick`) through; stops at the first failure with its exit code.
 */
import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"

/** Runs `<name>.ts` next to `from` (an `import.meta.url`) for each name, in order. */
export const runInTurn = (from: string, names: ReadonlyArray<string>): void => {
  for (const name of names) {
    console.log(`\n== ${name}`)
    const started = performance.now()
    const file = fileURLToPath(new URL(`./${name}.ts`, from))
    const run = spawnSync(
      process.execPath,
      ["--import", "tsx", "--expose-gc", file, ...process.argv.slice(2)],
      {
        stdio: "inherit"
      }
    )
    if (run.status !== 0) {
      console.error(`${name} failed (exit ${run.status ?? run.signal})`)
      process.exit(run.status ?? 1)
    }
    console.log(`${name} took ${((performance.now() - started) / 1000).toFixed(0)} s`)
  }
}
