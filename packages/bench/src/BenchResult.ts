/**
 * What every Converge benchmark shares: the `--quick` flag, statistics, heap measurement, an
 * aligned table, and `bench/results/<name>.json` in the shape ARCHITECTURE.md "Benchmarks" asks
 * for (ours and the anchor side by side, ratio oriented so that above 1 is better).
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

/** One measured case: ours against the anchor in the same run. */
export interface Case {
  readonly name: string
  readonly ours: number
  readonly anchor: number
  readonly ratio: number
  readonly [detail: string]: unknown
}

/** A benchmark result file; the top level repeats the worst case. */
export interface Result {
  readonly name: string
  readonly metric: string
  readonly unit: string
  readonly ours: number
  readonly anchor: number
  readonly anchorName: string
  readonly ratio: number
  readonly higherIsBetter: boolean
  readonly cases: ReadonlyArray<Case>
  readonly quick: boolean
  readonly date: string
  readonly [detail: string]: unknown
}

/** Whether `--quick` was passed. */
export const isQuick = (): boolean => process.argv.includes("--quick")

/** The ratio oriented so that above 1 is better than the anchor. */
export const ratioOf = (ours: number, anchor: number, higherIsBetter: boolean): number =>
  higherIsBetter ? ours / anchor : anchor / ours

/** The value below which `fraction` of the samples fall (nearest rank). */
export const percentile = (values: ReadonlyArray<number>, fraction: number): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1))
  return sorted[index] ?? Number.NaN
}

/** The median of some numbers. */
export const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  const upper = sorted[middle] ?? Number.NaN
  return sorted.length % 2 === 1 ? upper : ((sorted[middle - 1] ?? Number.NaN) + upper) / 2
}

/** Runs a full garbage collection if node was started with `--expose-gc`; says whether it could. */
export const collectGarbage = (): boolean => {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) return false
  gc()
  gc()
  return true
}

/** Bytes of heap in use now. */
export const heapUsed = (): number => process.memoryUsage().heapUsed

/** Writes `results/<result.name>.json` next to the benchmark file `benchUrl` and returns its path. */
export const writeResult = (benchUrl: string, result: Result): string => {
  const path = join(dirname(fileURLToPath(benchUrl)), "results", `${result.name}.json`)
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, `${JSON.stringify(result, null, 2)}\n`)
  return path
}

/** Prints rows as an aligned text table. */
export const printTable = (
  header: ReadonlyArray<string>,
  rows: ReadonlyArray<ReadonlyArray<string>>
): void => {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column]?.length ?? 0))
  )
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join("  ")
  console.log(line(header))
  console.log(widths.map((width) => "-".repeat(width)).join("  "))
  for (const row of rows) console.log(line(row))
}
