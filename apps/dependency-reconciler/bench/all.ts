/**
 * Runs every dependency benchmark in turn, each in its own node process (so one's server and
 * heap never weigh on the next), passing this process's arguments (`--quick`) through.
 *
 *   node --import tsx --expose-gc bench/all.ts [--quick]
 */
import { runInTurn } from "@converge/bench"

runInTurn(import.meta.url, ["deps-throughput", "deps-latency", "deps-sweep-cost"])
