import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { GroupConfig } from "../src/config/GroupConfig.js"
import * as TemplateHash from "../src/reconciler/TemplateHash.js"
import { advance, advanceUntil, live, startManager } from "./harness.js"
import { migratedDatabase } from "./helpers.js"

/** Samples the group after every step: the most instances draining at once, and every drain reason seen. */
const tracker = (group: string) => {
  const seen = { maxDraining: 0, maxLive: 0, reasons: new Set<string>() }
  const sample = Effect.map(live(group), (rows) => {
    const draining = rows.filter((row) => row.state === "draining")
    seen.maxDraining = Math.max(seen.maxDraining, draining.length)
    seen.maxLive = Math.max(seen.maxLive, rows.length)
    for (const row of draining) if (row.drainReason !== null) seen.reasons.add(row.drainReason)
  })
  return { seen, sample }
}

const runningCount = (group: string, count: number) =>
  Effect.map(live(group), (rows) => rows.length === count && rows.every((row) => row.state === "running"))

describe("rotation", () => {
  it.layer(migratedDatabase)("expiry", (it) => {
    it.scoped("eligible expiry replaces one at a time and only while nothing drains", () =>
      Effect.gen(function* () {
        const { manager } = yield* startManager({
          yaml: [
            "groups:",
            "  - key: old",
            "    desiredSize: 3",
            "    healthInterval: 10s",
            "    drainTimeout: 30s",
            "    expiry: { eligibleAge: 100s, forcedAge: 1h }",
            "    replacementBudget: { maxPercent: 100 }"
          ].join("\n"),
          lockKey: 7401,
          agentInterval: "5 seconds"
        })
        yield* advanceUntil(manager, runningCount("old", 3), { step: "1 second", max: "1 minute" })
        const originals = (yield* live("old")).map((row) => row.id)
        const { seen, sample } = tracker("old")
        yield* advance(manager, "4 minutes", "2 seconds", sample)
        expect(seen.maxDraining).toBe(1)
        expect([...seen.reasons]).toEqual(["eligible-expiry"])
        const now = (yield* live("old")).map((row) => row.id)
        expect(now.filter((id) => originals.includes(id))).toEqual([])
        expect(seen.maxLive).toBeLessThanOrEqual(4)
      })
    )

    it.scoped("forced expiry proceeds while another instance drains, one per pass", () =>
      Effect.gen(function* () {
        const { manager, drains } = yield* startManager({
          yaml: [
            "groups:",
            "  - key: forced",
            "    desiredSize: 2",
            "    maxSurge: 2",
            "    healthInterval: 10s",
            "    drainTimeout: 10m",
            "    expiry: { eligibleAge: 50s, forcedAge: 100s }",
            "    replacementBudget: { maxPercent: 100 }"
          ].join("\n"),
          lockKey: 7402,
          agentInterval: "5 seconds"
        })
        yield* advanceUntil(manager, runningCount("forced", 2), { step: "1 second", max: "1 minute" })
        yield* advance(manager, "70 seconds", "2 seconds")
        // One eligible expiry started; the other waits while it drains (10 minutes).
        expect(drains.map((drain) => drain.reason)).toEqual(["eligible-expiry"])
        yield* advance(manager, "50 seconds", "2 seconds")
        expect(drains.map((drain) => drain.reason)).toEqual(["eligible-expiry", "forced-expiry"])
        expect((yield* live("forced")).filter((row) => row.state === "draining")).toHaveLength(2)
      })
    )
  })

  it.layer(migratedDatabase)("drift", (it) => {
    it.scoped("a changed template rotates one instance at a time, never while one drains", () =>
      Effect.gen(function* () {
        const spec = {
          key: "tpl",
          desiredSize: 3,
          healthInterval: "10s",
          drainTimeout: "30s",
          replacementBudget: { maxPercent: 100 },
          template: { image: "web-1" }
        }
        const { manager } = yield* startManager({
          yaml: `groups:\n  - ${JSON.stringify(spec)}\n`,
          lockKey: 7403,
          agentInterval: "5 seconds"
        })
        yield* advanceUntil(manager, runningCount("tpl", 3), { step: "1 second", max: "1 minute" })
        yield* manager.putGroup(
          Schema.decodeUnknownSync(GroupConfig)({ ...spec, template: { image: "web-2" } })
        )
        const { seen, sample } = tracker("tpl")
        const newHash = TemplateHash.of({ image: "web-2" })
        yield* advance(manager, "3 minutes", "2 seconds", sample)
        expect(seen.maxDraining).toBe(1)
        expect([...seen.reasons]).toEqual(["drift"])
        const rows = yield* live("tpl")
        expect(rows).toHaveLength(3)
        expect(rows.every((row) => row.templateHash === newHash)).toBe(true)
      })
    )
  })

  it.layer(migratedDatabase)("replacement budget", (it) => {
    it.scoped(
      "with the whole group unhealthy, replacements stay within the budget and the breaker opens",
      () =>
        Effect.gen(function* () {
          const { manager, agents } = yield* startManager({
            yaml: [
              "groups:",
              "  - key: storm",
              "    desiredSize: 10",
              "    maxSurge: 10",
              "    healthInterval: 10s",
              "    drainTimeout: 60s",
              "    replacementBudget: { maxPercent: 20, window: 10m }"
            ].join("\n"),
            lockKey: 7404,
            agentInterval: "5 seconds"
          })
          yield* advanceUntil(manager, runningCount("storm", 10), { step: "1 second", max: "1 minute" })
          for (const row of yield* live("storm")) yield* agents.mute(row.id)
          const { seen, sample } = tracker("storm")
          yield* advance(manager, "3 minutes", "2 seconds", sample)
          expect(seen.maxDraining).toBe(2)
          const status = (yield* manager.status.get).groups["default/storm"]
          expect(status?.breakerOpen).toBe(true)
          expect(status?.desired).toBe(10)
          // Two replaced within the window; the other eight wait for the window to pass.
          const rows = yield* live("storm")
          expect(rows.filter((row) => row.unhealthyAt !== null)).toHaveLength(8)
        })
    )
  })
})
