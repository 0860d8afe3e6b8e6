/**
 * Runs every instance-manager benchmark in turn, each in its own node process (so one's server,
 * children and heap never weigh on the next), passing this process's arguments (`--quick`) through.
 *
 *   node --import tsx --expose-gc bench/all.ts [--quick]
 */
import { runInTurn } from "@converge/bench"

runInTurn(import.meta.url, ["instances-convergence", "instances-failover", "instances-replacement"])
