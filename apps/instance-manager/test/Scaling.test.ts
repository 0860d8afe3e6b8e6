import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import type * as InstanceManager from "../src/InstanceManager.js"
import { advance, advanceUntil, live, liveCount, startManager } from "./harness.js"
import { migratedDatabase } from "./helpers.js"

const groupsYaml = (count: number, desiredSize: number) =>
  `groups:\n${Array.from({ length: count }, (_, index) => `  - { key: g${index}, desiredSize: ${desiredSize} }`).join("\n")}\n`

const allAt = (count: number, size: number) =>
  Effect.map(
    Effect.forEach(
      Array.from({ length: count }, (_, index) => `g${index}`),
      (group) => liveCount(group)
    ),
    (counts) => counts.every((value) => value === size)
  )

/**
 * The group has `size` live instances, each created at the provider (a reserved row whose create
 * is still in flight does not count: a fault scripted next would hit that create), and the
 * start-up passes (InitialReconcile) are over.
 */
const startedAndAt = (manager: InstanceManager.InstanceManager, group: string, size: number) =>
  Effect.zipWith(
    live(group),
    manager.status.get,
    (rows, status) =>
      rows.length === size &&
      rows.every((row) => row.providerId !== null) &&
      status.leader &&
      status.events.handled >= 1
  )

describe("scaling", () => {
  it.layer(migratedDatabase, { timeout: 120_000 })("many groups", (it) => {
    it.scoped(
      "from zero to desired and back to zero for many groups; a deleted group scales to zero",
      () =>
        Effect.gen(function* () {
          const groups = 12
          const { manager, simulation, errors } = yield* startManager({
            yaml: groupsYaml(groups, 3),
            lockKey: 7201
          })
          yield* advanceUntil(manager, allAt(groups, 3), { step: "1 second", max: "2 minutes" })
          expect((yield* simulation.controls.instances).length).toBe(groups * 3)
          const status = yield* manager.status.get
          expect(status.groups["default/g0"]).toMatchObject({ desired: 3, actual: 3 })

          yield* manager.deleteGroup("default", "g0")
          for (let index = 1; index < groups; index++) yield* manager.setDesired("default", `g${index}`, 0)
          yield* advanceUntil(manager, allAt(groups, 0), { step: "1 second", max: "2 minutes" })
          expect(yield* simulation.controls.instances).toEqual([])
          expect((yield* manager.status.get).groups["default/g0"]).toMatchObject({ deleted: true, actual: 0 })
          expect(errors).toEqual([])
        }),
      120_000
    )
  })

  it.layer(migratedDatabase)("create failures", (it) => {
    it.scoped(
      "a transient create failure stops the pass and is retried by policy (5 s, then +25 % at most)",
      () =>
        Effect.gen(function* () {
          const { manager, simulation, errors } = yield* startManager({
            yaml: "groups:\n  - { key: web, desiredSize: 1 }\n",
            lockKey: 7202
          })
          // Converged, and the start-up pass (leadership acquired: InitialReconcile) is over.
          yield* advanceUntil(manager, startedAndAt(manager, "web", 1), { step: "1 second", max: "1 minute" })
          yield* simulation.controls.failNextCreates(1, "transient")
          yield* manager.setDesired("default", "web", 3)
          yield* advance(manager, Duration.zero)
          expect(yield* liveCount("web")).toBe(1)
          expect((yield* simulation.controls.calls).create).toBe(2)
          expect(errors.map((error) => error.message)).toEqual([
            "create failed: simulated transient failure: capacity temporarily unavailable"
          ])
          expect((yield* manager.status.get).groups["default/web"]?.lastError).toContain("create failed")
          yield* advance(manager, "4 seconds", "500 millis")
          expect((yield* simulation.controls.calls).create).toBe(2)
          yield* advance(manager, "2500 millis", "500 millis")
          expect(yield* liveCount("web")).toBe(3)
        })
    )
  })

  // A database of its own: a manager marks groups it is not configured with as deleted.
  it.layer(migratedDatabase)("permanent create failures", (it) => {
    it.scoped("a permanent create failure is reported and not retried", () =>
      Effect.gen(function* () {
        const { manager, simulation, errors } = yield* startManager({
          yaml: "groups:\n  - { key: api, desiredSize: 1 }\n",
          lockKey: 7203
        })
        yield* advanceUntil(manager, startedAndAt(manager, "api", 1), { step: "1 second", max: "1 minute" })
        yield* simulation.controls.failNextCreates(1, "permanent")
        yield* manager.setDesired("default", "api", 2)
        yield* advance(manager, "4 minutes", "10 seconds")
        expect((yield* simulation.controls.calls).create).toBe(2)
        expect(yield* liveCount("api")).toBe(1)
        expect(errors.map((error) => error.message)).toEqual([
          expect.stringContaining("simulated permanent failure")
        ])
        expect(errors[0]?.message).toContain("simulated permanent failure")
        expect((yield* manager.status.get).lastErrors).toHaveLength(1)
      })
    )
  })
})
