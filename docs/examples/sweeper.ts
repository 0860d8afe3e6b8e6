/**
 * A sweeper that releases stale job claims: a worker that crashed after claiming a job never
 * finishes it, so every 30 seconds the leader puts claims older than a minute back to pending.
 */
import { type LeaderGate, Observer, Sweeper } from "@converge/core"
import { Clock, Effect, Ref, Schedule, type Scope } from "effect"

/** A job and, while a worker holds it, when it was claimed. */
export interface Job {
  readonly id: string
  readonly state: "pending" | "claimed" | "finished"
  readonly claimedAtMillis?: number
}

/** What one sweep did. */
export interface SweepReport {
  readonly scanned: number
  readonly released: number
}

const staleAfterMillis = 60_000

// #region tick
/** One sweep over `jobs`: claims older than a minute go back to pending. */
export const releaseStaleClaims = (jobs: Ref.Ref<ReadonlyArray<Job>>): Effect.Effect<SweepReport> =>
  Effect.flatMap(Clock.currentTimeMillis, (now) =>
    Ref.modify(jobs, (all) => {
      let released = 0
      const next = all.map((job): Job => {
        if (job.state !== "claimed" || now - (job.claimedAtMillis ?? now) < staleAfterMillis) return job
        released++
        return { id: job.id, state: "pending" }
      })
      return [{ scanned: all.length, released }, next]
    })
  )
// #endregion tick

// #region loop
/** Starts the sweeper in the current scope: it ticks at once when leading, then every 30 s. */
export const start = (
  jobs: Ref.Ref<ReadonlyArray<Job>>
): Effect.Effect<void, never, LeaderGate.LeaderGate | Scope.Scope> =>
  Sweeper.make({
    name: "stale-claims",
    tick: releaseStaleClaims(jobs),
    schedule: Schedule.spaced("30 seconds"),
    observer: Observer.logObserver()
  })
// #endregion loop

// #region once
/** The same sweep for a `sweep --once` command: reported like a loop tick, not leader-gated. */
export const sweepOnce = (jobs: Ref.Ref<ReadonlyArray<Job>>) =>
  Sweeper.runOnce({ name: "stale-claims", tick: releaseStaleClaims(jobs) })
// #endregion once
