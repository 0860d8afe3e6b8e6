/**
 * Runs the flag orchestrator's benchmarks one after the other, each in a fresh node process (its
 * own server and heap), passing `--quick` and any other arguments through.
 *
 *   node --import tsx --expose-gc bench/all.ts [--quick]
 */
import { runInTurn } from "@converge/bench"

runInTurn(import.meta.url, ["flags-soak-memory", "flags-apply-latency"])
