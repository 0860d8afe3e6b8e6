/** Benchmark helpers: `--quick`, statistics, heap, tables and result files. */
export * from "./BenchResult.js"
export * from "./RunInTurn.js"
