import { describe, expect, it } from "@effect/vitest"
import { Duration, Schema } from "effect"
import { GroupConfig } from "../src/config/GroupConfig.js"
import * as Planning from "../src/reconciler/Planning.js"
import type { InstanceRecord } from "../src/state/InstanceStore.js"

const instance = (id: string, fields: Partial<InstanceRecord> = {}): InstanceRecord => ({
  id,
  tenant: "default",
  groupKey: "web",
  providerId: `p-${id}`,
  state: "running",
  templateHash: "h1",
  createdAt: new Date(0),
  createdTerm: 1,
  lastHealthAt: null,
  disconnectedAt: null,
  unhealthyAt: null,
  unhealthyReason: null,
  terminationNoticeAt: null,
  drainStartedAt: null,
  drainReason: null,
  drainAckedAt: null,
  deleteAt: null,
  replacementId: null,
  deletedAt: null,
  ...fields
})

const spec = (fields: Record<string, unknown> = {}) =>
  Schema.decodeUnknownSync(GroupConfig)({ key: "web", desiredSize: 10, ...fields })

describe("Planning", () => {
  it("scale-down removes unhealthy first, then pending, then the oldest", () => {
    const instances = [
      instance("old", { createdAt: new Date(1) }),
      instance("newer", { createdAt: new Date(5) }),
      instance("pending", { state: "pending", createdAt: new Date(9) }),
      instance("sick", { createdAt: new Date(8), unhealthyAt: new Date(9) })
    ]
    expect(Planning.scaleDownVictims(instances, 3).map((victim) => victim.id)).toEqual([
      "sick",
      "pending",
      "old"
    ])
    expect(Planning.scaleDownVictims(instances, 0)).toEqual([])
  })

  it("the replacement budget is the smaller of a count and a share of desired, at least one", () => {
    expect(Planning.replacementAllowance(spec({ replacementBudget: { maxPercent: 20 } }), 10)).toBe(2)
    expect(Planning.replacementAllowance(spec({ replacementBudget: { maxPercent: 20 } }), 2)).toBe(1)
    expect(
      Planning.replacementAllowance(spec({ replacementBudget: { maxPercent: 100, maxReplacements: 3 } }), 10)
    ).toBe(3)
  })

  it("expiry: forced always, eligible only while nothing drains, the oldest first", () => {
    const group = spec({ expiry: { eligibleAge: "10s", forcedAge: "20s" } })
    const young = instance("young", { createdAt: new Date(15_000) })
    const eligible = instance("eligible", { createdAt: new Date(10_000) })
    const forced = instance("forced", { createdAt: new Date(1_000) })
    expect(Planning.expiryCandidate(group, [young, eligible], false, 21_000)).toEqual({
      instance: eligible,
      reason: "eligible-expiry"
    })
    expect(Planning.expiryCandidate(group, [young, eligible], true, 21_000)).toBeUndefined()
    expect(Planning.expiryCandidate(group, [young, eligible, forced], true, 21_000)).toEqual({
      instance: forced,
      reason: "forced-expiry"
    })
  })

  it("drift: the oldest running instance on another template, never while one drains", () => {
    const drifted = instance("drifted", { templateHash: "h0", createdAt: new Date(1) })
    const current = instance("current", { templateHash: "h1" })
    expect(Planning.driftCandidate("h1", [current, drifted], false)?.id).toBe("drifted")
    expect(Planning.driftCandidate("h1", [current, drifted], true)).toBeUndefined()
    expect(Planning.driftCandidate("h1", [current], false)).toBeUndefined()
  })

  it("the next wake-up is the earliest of events, drain deadlines, health ticks and expiry ages", () => {
    const group = spec({ healthInterval: "10s", expiry: { forcedAge: "25s" } })
    const running = instance("a", { lastHealthAt: new Date(3_000) })
    const draining = instance("b", {
      state: "draining",
      deleteAt: new Date(8_000),
      lastHealthAt: new Date(4_000)
    })
    expect(Planning.nextWakeup(group, [running], undefined, 5_000)).toBe(13_000)
    expect(Planning.nextWakeup(group, [running, draining], undefined, 5_000)).toBe(8_000)
    expect(Planning.nextWakeup(group, [running], 6_000, 5_000)).toBe(6_000)
    expect(Planning.nextWakeup(group, [], undefined, 5_000)).toBeUndefined()
    expect(
      Planning.nextWakeup(
        spec({ healthInterval: "1h", expiry: { forcedAge: "25s" } }),
        [running],
        undefined,
        5_000
      )
    ).toBe(Duration.toMillis(Duration.seconds(25)))
  })
})
