import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Exit, Option, Schedule, Schema, Scope, SubscriptionRef, TestClock } from "effect"
import { GroupConfig } from "../src/config/GroupConfig.js"
import { SimulatedProviderConfig } from "../src/config/ProviderConfig.js"
import { RetryConfig } from "../src/config/RetryConfig.js"
import { type Provider, ProviderRetryableError, Provider as ProviderTag } from "../src/provider/Provider.js"
import * as SimulatedProvider from "../src/provider/SimulatedProvider.js"
import * as Rebuild from "../src/reconciler/Rebuild.js"
import * as RebuildSnapshot from "../src/reconciler/RebuildSnapshot.js"
import * as TemplateHash from "../src/reconciler/TemplateHash.js"
import * as Fence from "../src/state/Fence.js"
import * as GroupStore from "../src/state/GroupStore.js"
import * as InstanceStore from "../src/state/InstanceStore.js"
import { advanceUntil, instantCloud, live, startManager } from "./harness.js"
import { leadOn, migratedDatabase } from "./helpers.js"

const simulationOf = (cloud: Record<string, unknown> = {}) =>
  SimulatedProvider.make(
    Schema.decodeUnknownSync(SimulatedProviderConfig)({ type: "simulated", ...instantCloud, ...cloud })
  )

/** Instances the provider holds that no database row knows: a lost leader's creates, or made by hand. */
const unknownInstances = (provider: Provider.Service, group: string, count: number) =>
  Effect.forEach(
    Array.from({ length: count }, (_, index) => index),
    (index) =>
      Effect.map(
        provider.create({
          instanceId: `unknown-${group}-${index}`,
          tenant: "default",
          group,
          template: {},
          templateHash: TemplateHash.of({})
        }),
        (instance) => instance.instanceId
      )
  )

describe("rebuild on taking leadership", () => {
  it.layer(migratedDatabase, { timeout: 120_000 })("takeover", (it) => {
    it.scoped(
      "a standby that takes over lists the provider before any create, adopts unknown instances, and stays within desired + max surge",
      () =>
        Effect.gen(function* () {
          const lockKey = 7_511
          const desired = 5
          const maxSurge = 1
          const simulation = yield* simulationOf()
          const adopted = yield* unknownInstances(simulation.provider, "takeover", 3)
          const order: Array<string> = []
          let maxInCloud = 0
          const inCloud = Effect.map(
            simulation.controls.instances,
            (instances) =>
              instances.filter((instance) => instance.state === "pending" || instance.state === "running")
                .length
          )
          const recording: Provider.Service = {
            ...simulation.provider,
            list: (tenant, group) =>
              Effect.zipRight(
                Effect.sync(() => void order.push("list")),
                simulation.provider.list(tenant, group)
              ),
            listAll: (token) =>
              Effect.zipRight(
                Effect.sync(() => void order.push("listAll")),
                simulation.provider.listAll(token)
              ),
            create: (request) =>
              Effect.zipRight(
                Effect.sync(() => void order.push("create")),
                simulation.provider.create(request)
              ).pipe(
                Effect.tap(() =>
                  Effect.map(inCloud, (count) => {
                    maxInCloud = Math.max(maxInCloud, count)
                  })
                )
              )
          }

          // Another process holds the lock; the manager starts as its standby.
          const holderScope = yield* Scope.make()
          yield* Effect.orDie(leadOn(lockKey)).pipe(Scope.extend(holderScope))
          const { manager, gate, errors } = yield* startManager({
            yaml: `groups:\n  - { key: takeover, desiredSize: ${desired}, maxSurge: ${maxSurge}, healthInterval: 1h }\n`,
            lockKey,
            simulation: { provider: recording, controls: simulation.controls },
            standby: true
          })
          expect(yield* SubscriptionRef.get(gate.isLeader)).toBe(false)
          expect(order).toEqual([])

          // The holder steps down: the standby takes the lock within a few check intervals, in real time.
          yield* Scope.close(holderScope, Exit.void)
          yield* SubscriptionRef.get(gate.isLeader).pipe(
            Effect.filterOrFail(
              (leader) => leader,
              () => "the standby has not taken over yet"
            ),
            Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo("20 seconds"))),
            Effect.withClock(Clock.make())
          )

          yield* advanceUntil(
            manager,
            Effect.map(live("takeover"), (rows) => rows.length === desired),
            { step: "1 second", max: "1 minute" }
          )
          const rows = yield* live("takeover")
          expect(rows.map((row) => row.id)).toEqual(expect.arrayContaining([...adopted]))
          expect(order[0]).toBe("listAll")
          expect(order.indexOf("listAll")).toBeLessThan(order.indexOf("create"))
          expect(order.filter((call) => call === "create")).toHaveLength(desired - adopted.length)
          expect(order).not.toContain("list")
          expect(maxInCloud).toBeLessThanOrEqual(desired + maxSurge)
          expect(yield* inCloud).toBe(desired)
          expect(errors).toEqual([])
        })
    )
  })

  it.layer(migratedDatabase, { timeout: 120_000 })("cost", (it) => {
    it.scoped("the rebuild costs ceil(instances / page size) provider calls, not one per group", () =>
      Effect.gen(function* () {
        const groups = ["a", "b", "c", "d", "e"]
        const perGroup = 3
        const pageSize = 4
        const simulation = yield* simulationOf({ listPageSize: pageSize })
        for (const group of groups) yield* unknownInstances(simulation.provider, group, perGroup)
        const before = yield* simulation.controls.calls
        const { manager } = yield* startManager({
          yaml: [
            "groups:",
            ...groups.map((group) => `  - { key: ${group}, desiredSize: ${perGroup}, healthInterval: 1h }`),
            "  - { key: empty, desiredSize: 0, healthInterval: 1h }"
          ].join("\n"),
          lockKey: 7_512,
          simulation
        })
        yield* advanceUntil(
          manager,
          Effect.map(
            Effect.forEach(groups, (group) => live(group)),
            (rows) => rows.every((group) => group.length === perGroup)
          ),
          { step: "1 second", max: "30 seconds" }
        )
        const calls = yield* simulation.controls.calls
        expect(calls.listAll - before.listAll).toBe(Math.ceil((groups.length * perGroup) / pageSize))
        expect(calls.list - before.list).toBe(0)
        expect(calls.create - before.create).toBe(0)
        for (const group of groups) {
          expect((yield* live(group)).map((row) => row.id).sort()).toEqual(
            Array.from({ length: perGroup }, (_, index) => `unknown-${group}-${index}`)
          )
        }
        expect(yield* live("empty")).toEqual([])
      })
    )
  })

  // A database of its own: the groups of the test above would be rebuilt (and listed) too.
  it.layer(migratedDatabase, { timeout: 120_000 })("failed listing", (it) => {
    it.scoped("a failed listing is reported, and every group lists its own instances instead", () =>
      Effect.gen(function* () {
        const simulation = yield* simulationOf()
        yield* unknownInstances(simulation.provider, "fallback", 2)
        const failing: Provider.Service = {
          ...simulation.provider,
          listAll: () =>
            Effect.fail(new ProviderRetryableError({ operation: "listAll", message: "simulated outage" }))
        }
        const { manager, errors } = yield* startManager({
          yaml: "groups:\n  - { key: fallback, desiredSize: 3, healthInterval: 1h }\n  - { key: other, desiredSize: 1, healthInterval: 1h }\n",
          lockKey: 7_513,
          simulation: { provider: failing, controls: simulation.controls }
        })
        yield* advanceUntil(
          manager,
          Effect.map(
            Effect.zip(live("fallback"), live("other")),
            ([fallback, other]) => fallback.length === 3 && other.length === 1
          ),
          { step: "1 second", max: "30 seconds" }
        )
        const calls = yield* simulation.controls.calls
        expect(calls.list).toBe(2)
        expect(calls.create).toBe(2 + 2)
        expect((yield* live("fallback")).map((row) => row.id)).toEqual(
          expect.arrayContaining(["unknown-fallback-0", "unknown-fallback-1"])
        )
        expect(errors.map((error) => error.message)).toEqual([expect.stringContaining("simulated outage")])
      })
    )
  })

  // A database of its own, and the rebuild called directly: the term's listing is taken, then a
  // create reserved just before it lands at the provider, and the group's rebuild comes late.
  it.layer(migratedDatabase, { timeout: 120_000 })("late create", (it) => {
    it.scoped(
      "a create that lands after the term's listing is not dropped as lost when the rebuild comes late; a retried rebuild lists the group and attaches it",
      () =>
        Effect.gen(function* () {
          const lockKey = 7_514
          const gate = yield* leadOn(lockKey)
          const term = yield* gate.term
          const simulation = yield* simulationOf()
          const errors: Array<string> = []
          const snapshot = yield* RebuildSnapshot.make({
            notifyDrain: () => Effect.void,
            notifyError: (error) => Effect.sync(() => void errors.push(error.message))
          }).pipe(Effect.provideService(ProviderTag, simulation.provider))
          yield* GroupStore.upsert(
            Schema.decodeUnknownSync(GroupConfig)({ key: "late", desiredSize: 1 }),
            new Date(0)
          )
          const reserved = yield* InstanceStore.reserve({
            tenant: "default",
            group: "late",
            templateHash: TemplateHash.of({}),
            cap: 2,
            term,
            now: new Date(yield* Clock.currentTimeMillis)
          }).pipe(Effect.provide(Fence.layer(lockKey)))
          if (Option.isNone(reserved)) return expect.unreachable()
          const instanceId = reserved.value
          yield* TestClock.adjust("1 second")
          yield* snapshot.start(term)
          // The create of that reservation reaches the provider after the listing read its page.
          const landed = yield* Effect.fork(
            Effect.zipRight(
              Effect.yieldNow({ priority: 1 }),
              simulation.provider.create({
                instanceId,
                tenant: "default",
                group: "late",
                template: {},
                templateHash: TemplateHash.of({})
              })
            )
          )
          yield* TestClock.adjust("200 seconds")
          const created = yield* landed.await
          expect(created._tag).toBe("Success")

          const rebuild = Effect.gen(function* () {
            const found = yield* GroupStore.get("default", "late")
            if (Option.isNone(found)) return yield* Effect.dieMessage("the group is missing")
            const now = new Date(yield* Clock.currentTimeMillis)
            yield* Rebuild.fromProvider({
              group: found.value,
              term,
              now,
              settings: { retry: Schema.decodeUnknownSync(RetryConfig)({}), eventQueueCapacity: 100 }
            })
          }).pipe(
            Effect.provideService(ProviderTag, simulation.provider),
            Effect.provideService(RebuildSnapshot.RebuildSnapshot, snapshot),
            Effect.provide(Fence.layer(lockKey))
          )
          const before = yield* simulation.controls.calls
          yield* rebuild
          // Reserved 1 s before the listing began: not lost, though the pass runs 201 s after it.
          const afterFirst = yield* InstanceStore.get(instanceId)
          expect(Option.map(afterFirst, (row) => [row.state, row.providerId])).toEqual(
            Option.some(["pending", null])
          )
          expect((yield* simulation.controls.calls).list).toBe(before.list)
          // The same group rebuilt again in this term (a retried event) lists itself and attaches it.
          yield* rebuild
          const afterRetry = yield* InstanceStore.get(instanceId)
          expect(Option.map(afterRetry, (row) => row.providerId)).toEqual(
            Option.some(created._tag === "Success" ? created.value.providerId : "")
          )
          expect((yield* simulation.controls.calls).list).toBe(before.list + 1)
          expect(errors).toEqual([])
        })
    )
  })
})
