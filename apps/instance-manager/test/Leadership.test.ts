import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect, Schedule, Schema, SubscriptionRef, TestClock } from "effect"
import { SimulatedProviderConfig } from "../src/config/ProviderConfig.js"
import * as SimulatedProvider from "../src/provider/SimulatedProvider.js"
import * as EventStore from "../src/state/EventStore.js"
import { advance, advanceUntil, instantCloud, live, liveCount, startManager } from "./harness.js"
import { migratedDatabase } from "./helpers.js"

const lockKey = 7501
const desired = 6
const maxSurge = 1

/** Ends the session holding the leader lock, as a network cut would: its gate steps down at once. */
const cutLeader = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql`SELECT pg_terminate_backend(pid) FROM pg_locks
      WHERE locktype = 'advisory' AND granted AND objid = ${lockKey}::bigint::oid AND classid = 0`
)

describe("leadership", () => {
  it.layer(migratedDatabase)("term discard", (it) => {
    it.scoped("an event created under an older term is discarded, recorded and counted, never handled", () =>
      Effect.gen(function* () {
        const { manager, gate } = yield* startManager({
          yaml: "groups:\n  - { key: old-term, desiredSize: 1 }\n",
          lockKey: 7502
        })
        yield* advanceUntil(
          manager,
          Effect.map(liveCount("old-term"), (count) => count === 1),
          {
            step: "1 second",
            max: "1 minute"
          }
        )
        const [instance] = yield* live("old-term")
        if (instance === undefined) return expect.unreachable()
        const term = yield* gate.term
        yield* EventStore.enqueue(
          {
            type: "TerminationNotice",
            tenant: "default",
            group: "old-term",
            instanceId: instance.id,
            term: term - 1,
            createdAt: new Date(yield* Clock.currentTimeMillis)
          },
          100
        )
        yield* manager.controller.enqueue("default/old-term")
        yield* advance(manager, "1 second")
        const sql = yield* SqlClient.SqlClient
        const rows = yield* sql<{ readonly status: string; readonly lastError: string | null }>`
          SELECT status, last_error AS "lastError" FROM im_events WHERE type = 'TerminationNotice'`
        expect(rows).toEqual([
          { status: "discarded", lastError: expect.stringContaining(`term ${term - 1}`) }
        ])
        expect((yield* manager.status.get).events.discarded).toBe(1)
        expect((yield* live("old-term")).map((row) => row.id)).toEqual([instance.id])
      })
    )
  })

  it.layer(migratedDatabase, { timeout: 180_000 })("two managers", (it) => {
    it.scoped(
      "two managers flapping leadership, with mass replacement, never go above desired + max surge",
      () =>
        Effect.gen(function* () {
          const simulation = yield* SimulatedProvider.make(
            Schema.decodeUnknownSync(SimulatedProviderConfig)({ type: "simulated", ...instantCloud })
          )
          const yaml = `groups:\n  - { key: flap, desiredSize: ${desired}, maxSurge: ${maxSurge}, healthInterval: 10s, drainTimeout: 20s, replacementBudget: { maxPercent: 100 } }\n`
          const first = yield* startManager({ yaml, lockKey, simulation, agentInterval: "5 seconds" })
          const second = yield* startManager({
            yaml,
            lockKey,
            simulation,
            agentInterval: "5 seconds",
            standby: true
          })
          const managers = [first, second]
          const sql = yield* SqlClient.SqlClient
          const realClock = Clock.make()
          let maxInCloud = 0
          let maxInDatabase = 0

          const sample = Effect.gen(function* () {
            const inCloud = (yield* simulation.controls.instances).filter(
              (instance) => instance.state === "pending" || instance.state === "running"
            ).length
            const [row] = yield* sql<{ readonly live: number }>`
              SELECT count(*)::int AS live FROM im_instances WHERE group_key = 'flap' AND state <> 'deleted'`
            maxInCloud = Math.max(maxInCloud, inCloud)
            maxInDatabase = Math.max(maxInDatabase, row?.live ?? 0)
          })

          // Waits for the current leader's controller to go idle; a leadership change mid-wait ends the wait.
          const settle = Effect.gen(function* () {
            for (const manager of managers) {
              if (yield* SubscriptionRef.get(manager.gate.isLeader)) {
                yield* manager.manager.controller.awaitIdle.pipe(
                  Effect.timeoutOption(Duration.seconds(2)),
                  Effect.withClock(realClock)
                )
              }
            }
          })
          const step = (seconds: number) =>
            Effect.gen(function* () {
              for (let index = 0; index < seconds; index++) {
                yield* settle
                yield* sample
                yield* TestClock.adjust("1 second")
              }
            })

          const currentTerm = Effect.map(
            Effect.forEach(managers, (manager) => manager.gate.term),
            (terms) => Math.max(...terms)
          )
          yield* step(20)
          let terms = 0
          for (let flap = 0; flap < 6; flap++) {
            if (flap === 1) yield* simulation.controls.massFailure("default", "flap", 1)
            if (flap === 3) {
              const [victim] = (yield* simulation.controls.instances).filter(
                (instance) => instance.state === "running"
              )
              if (victim !== undefined)
                for (const { agents } of managers) yield* agents.mute(victim.instanceId)
            }
            const before = yield* currentTerm
            yield* cutLeader
            // The standby (or the deposed leader, reconnected) takes over within a few check intervals, in real time.
            yield* Effect.forEach(managers, (manager) =>
              Effect.zip(SubscriptionRef.get(manager.gate.isLeader), manager.gate.term)
            ).pipe(
              Effect.filterOrFail(
                (gates) => gates.some(([leader, term]) => leader && term > before),
                () => "no new leader yet"
              ),
              Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo("20 seconds"))),
              Effect.withClock(realClock)
            )
            terms++
            yield* step(15)
          }
          yield* step(60)

          expect(terms).toBe(6)
          expect(maxInCloud).toBeLessThanOrEqual(desired + maxSurge)
          expect(maxInDatabase).toBeLessThanOrEqual(desired + maxSurge)
          const live = (yield* simulation.controls.instances).filter(
            (instance) => instance.state === "running"
          )
          expect(live).toHaveLength(desired)
          expect(yield* currentTerm).toBeGreaterThanOrEqual(7)
        }),
      180_000
    )
  })
})
