import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { advance, advanceUntil, live, liveCount, settle, startManager } from "./harness.js"
import { migratedDatabase } from "./helpers.js"

const disconnectChecks = (instanceId: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => sql<{ readonly attempt: number; readonly status: string }>`
      SELECT attempt, status FROM im_events
      WHERE type = 'CheckInstance' AND cause = 'disconnect' AND instance_id = ${instanceId} ORDER BY id`
  )

describe("health", () => {
  it.layer(migratedDatabase)("missed reports", (it) => {
    it.scoped(
      "missed health reports → replacement created first, then drain, then delete at the timeout",
      () =>
        Effect.gen(function* () {
          const { manager, agents, drains, errors } = yield* startManager({
            yaml: "groups:\n  - { key: web, desiredSize: 2, healthInterval: 10s, drainTimeout: 60s }\n",
            lockKey: 7301,
            agentInterval: "5 seconds"
          })
          yield* advanceUntil(
            manager,
            Effect.map(
              live("web"),
              (rows) => rows.length === 2 && rows.every((row) => row.state === "running")
            ),
            { step: "1 second", max: "1 minute" }
          )
          const [victim] = yield* live("web")
          if (victim === undefined) return expect.unreachable()
          yield* agents.mute(victim.id)
          const detected = yield* advanceUntil(
            manager,
            Effect.sync(() => drains.length > 0),
            {
              step: "1 second",
              max: "2 minutes"
            }
          )
          expect(drains[0]).toMatchObject({ instanceId: victim.id, reason: "missed-health-reports" })
          // Silent for 3 intervals (30 s) past the last report, found at the next health tick.
          expect(Duration.toMillis(detected)).toBeLessThanOrEqual(50_000)
          const during = yield* live("web")
          expect(during).toHaveLength(3)
          const drained = during.find((row) => row.id === victim.id)
          const replacement = during.find((row) => row.id === drained?.replacementId)
          expect(drained?.state).toBe("draining")
          expect(replacement?.createdAt.getTime()).toBeLessThanOrEqual(
            drained?.drainStartedAt?.getTime() ?? 0
          )
          yield* advance(manager, "59 seconds")
          expect(yield* liveCount("web")).toBe(3)
          yield* advance(manager, "2 seconds")
          expect((yield* live("web")).map((row) => row.id)).not.toContain(victim.id)
          expect(yield* liveCount("web")).toBe(2)
          expect(errors).toEqual([])
        })
    )
  })

  it.layer(migratedDatabase)("gone and terminal", (it) => {
    it.scoped("an instance gone or terminal at the provider is replaced without a drain", () =>
      Effect.gen(function* () {
        const { manager, simulation, drains } = yield* startManager({
          yaml: "groups:\n  - { key: web, desiredSize: 3, healthInterval: 10s }\n",
          lockKey: 7302,
          agentInterval: "5 seconds"
        })
        yield* advanceUntil(
          manager,
          Effect.map(liveCount("web"), (count) => count === 3),
          {
            step: "1 second",
            max: "1 minute"
          }
        )
        const [gone, terminal] = yield* live("web")
        if (gone?.providerId == null || terminal?.providerId == null) return expect.unreachable()
        yield* simulation.controls.vanish(gone.providerId)
        yield* simulation.controls.setTerminal(terminal.providerId, "failed")
        yield* advanceUntil(
          manager,
          Effect.map(
            live("web"),
            (rows) => rows.length === 3 && !rows.some((row) => row.id === gone.id || row.id === terminal.id)
          ),
          { step: "1 second", max: "1 minute" }
        )
        expect(drains).toEqual([])
        const cloud = (yield* simulation.controls.instances).filter((instance) => instance.state !== "failed")
        expect(cloud).toHaveLength(3)
      })
    )
  })

  it.layer(migratedDatabase)("disconnects", (it) => {
    it.scoped("a disconnect starts follow-up checks that stop once the instance reports again", () =>
      Effect.gen(function* () {
        const { manager, agents, drains } = yield* startManager({
          yaml: "groups:\n  - { key: web, desiredSize: 1, healthInterval: 20s }\n",
          lockKey: 7303,
          agentInterval: "5 seconds"
        })
        yield* advanceUntil(
          manager,
          Effect.map(live("web"), (rows) => rows[0]?.state === "running"),
          { step: "1 second", max: "1 minute" }
        )
        const [instance] = yield* live("web")
        if (instance === undefined) return expect.unreachable()
        yield* agents.mute(instance.id)
        yield* manager.reportDisconnect(instance.id)
        yield* advance(manager, "10 seconds")
        const whileSilent = yield* disconnectChecks(instance.id)
        expect(whileSilent.length).toBeGreaterThanOrEqual(2)
        expect(whileSilent.map((check) => check.attempt)).toEqual(whileSilent.map((_, index) => index))
        yield* agents.unmute(instance.id)
        yield* advance(manager, "2 minutes")
        const after = yield* disconnectChecks(instance.id)
        expect(after.filter((check) => check.status === "pending")).toEqual([])
        expect(after.length).toBeLessThanOrEqual(whileSilent.length + 1)
        expect((yield* live("web")).map((row) => row.id)).toEqual([instance.id])
        expect(drains).toEqual([])
      })
    )
  })

  it.layer(migratedDatabase)("drains", (it) => {
    it.scoped("a drain acknowledged (twice) deletes at once; a terminal instance mid-drain is deleted", () =>
      Effect.gen(function* () {
        const { manager, simulation, drains, errors } = yield* startManager({
          yaml: "groups:\n  - { key: web, desiredSize: 2, maxSurge: 2, healthInterval: 10s, drainTimeout: 10m, replacementBudget: { maxPercent: 100 } }\n",
          lockKey: 7304,
          agentInterval: "5 seconds"
        })
        yield* advanceUntil(
          manager,
          Effect.map(
            live("web"),
            (rows) => rows.length === 2 && rows.every((row) => row.state === "running")
          ),
          { step: "1 second", max: "1 minute" }
        )
        const [acked, terminal] = yield* live("web")
        if (acked === undefined || terminal?.providerId == null) return expect.unreachable()
        yield* manager.terminationNotice(acked.id)
        yield* manager.terminationNotice(acked.id)
        yield* manager.terminationNotice(terminal.id)
        yield* advance(manager, "1 second")
        expect(drains.map((drain) => drain.instanceId).sort()).toEqual([acked.id, terminal.id].sort())
        expect(yield* liveCount("web")).toBe(4)
        yield* manager.drainAck(acked.id)
        yield* manager.drainAck(acked.id)
        yield* advance(manager, "1 second")
        expect((yield* live("web")).map((row) => row.id)).not.toContain(acked.id)
        const late = yield* Effect.flip(manager.drainAck(acked.id))
        expect(late._tag).toBe("UnknownInstance")
        yield* simulation.controls.setTerminal(terminal.providerId, "terminated")
        yield* advanceUntil(
          manager,
          Effect.map(live("web"), (rows) => !rows.some((row) => row.id === terminal.id)),
          { step: "1 second", max: "1 minute" }
        )
        expect(yield* liveCount("web")).toBe(2)
        expect(drains).toHaveLength(2)
        expect(errors).toEqual([])
      })
    )

    it.scoped("drain timeout 0 deletes at once, after the replacement exists", () =>
      Effect.gen(function* () {
        const { manager, drains } = yield* startManager({
          yaml: "groups:\n  - { key: now, desiredSize: 1, healthInterval: 10s, drainTimeout: 0 }\n",
          lockKey: 7305,
          agentInterval: "5 seconds"
        })
        yield* advanceUntil(
          manager,
          Effect.map(live("now"), (rows) => rows[0]?.state === "running"),
          { step: "1 second", max: "1 minute" }
        )
        const [instance] = yield* live("now")
        if (instance === undefined) return expect.unreachable()
        yield* manager.terminationNotice(instance.id)
        yield* advance(manager, "0 seconds")
        yield* settle(manager)
        const after = yield* live("now")
        expect(after.map((row) => row.id)).not.toContain(instance.id)
        expect(after).toHaveLength(1)
        // The replacement and the delete happen in the same pass: the drain's deadline is that pass's time.
        expect(drains).toHaveLength(1)
        expect(drains[0]?.deleteAt.getTime()).toBe(after[0]?.createdAt.getTime())
      })
    )
  })

  it.layer(migratedDatabase)("termination notices", (it) => {
    it.scoped("a provider's termination notice starts a drain with its replacement within seconds", () =>
      Effect.gen(function* () {
        const { manager, simulation, drains } = yield* startManager({
          yaml: "groups:\n  - { key: spot, desiredSize: 3, healthInterval: 10s }\n",
          lockKey: 7306,
          agentInterval: "5 seconds"
        })
        yield* advanceUntil(
          manager,
          Effect.map(liveCount("spot"), (count) => count === 3),
          {
            step: "1 second",
            max: "1 minute"
          }
        )
        const [target] = yield* live("spot")
        if (target?.providerId == null) return expect.unreachable()
        yield* simulation.controls.terminationNotice(target.providerId)
        const elapsed = yield* advanceUntil(
          manager,
          Effect.map(live("spot"), (rows) => rows.length === 4 && drains.length === 1),
          { step: "500 millis", max: "1 minute" }
        )
        expect(Duration.toMillis(elapsed)).toBeLessThanOrEqual(5_000)
        expect(drains[0]).toMatchObject({ instanceId: target.id, reason: "termination-notice" })
      })
    )
  })
})
