/**
 * A simulation of a cloud, in memory: the embedded default provider, and what the simulation tests
 * and benchmarks run against. It is faithful where the manager's behaviour depends on it:
 *
 * - every call waits its latency on Effect's `Clock` (so `TestClock` drives it);
 * - every call takes a token from the API bucket (burst + per-second refill): `wait` queues the
 *   call until its token is due, `reject` fails it with `ProviderThrottledError`;
 * - `listAll` answers one page of up to `listPageSize` instances per call (one token each), in
 *   creation order, with a cursor that stays valid while instances come and go;
 * - creates fail at `failureRate` (retryable) and past the `quota` of live instances (permanent);
 * - instances are `pending` for `bootTime`, then `running`;
 * - scripted faults: the next creates fail (transient or permanent), a mass failure of a share of
 *   a group, an instance that turns terminal or vanishes, termination notices.
 *
 * Nothing here is real infrastructure: it is named a simulation everywhere it shows.
 */
import * as Crypto from "node:crypto"
import { Clock, Duration, Effect, Option, PubSub, Random, Stream } from "effect"
import type { SimulatedProviderConfig } from "../config/ProviderConfig.js"
import * as TokenBucket from "../internal/TokenBucket.js"
import {
  type CreateRequest,
  isTerminal,
  type Provider,
  type ProviderInstance,
  ProviderPermanentError,
  ProviderRetryableError,
  type ProviderState,
  ProviderThrottledError,
  type TerminationNoticeSignal
} from "./Provider.js"

/** Settings of the simulation: the provider config without its `type`. */
export type Options = Omit<SimulatedProviderConfig, "type">

/** Provider API calls made, by operation, and how many were throttled. */
export interface CallCounts {
  readonly create: number
  readonly delete: number
  readonly describe: number
  readonly list: number
  /** `listAll` pages. */
  readonly listAll: number
  readonly throttled: number
  readonly failedCreates: number
}

/** The scripted faults and inspection hooks of a simulation (for tests, benchmarks, the playground). */
export interface SimulationControls {
  /** The next `count` creates fail: `transient` with a retryable error, `permanent` with a permanent one. */
  readonly failNextCreates: (count: number, kind: "transient" | "permanent") => Effect.Effect<void>
  /** Turns `fraction` (0–1) of a group's live instances `failed` at once; returns their provider ids. */
  readonly massFailure: (
    tenant: string,
    group: string,
    fraction: number
  ) => Effect.Effect<ReadonlyArray<string>>
  /** Puts an instance in a terminal state (`stopped`, `terminated`, `failed`). */
  readonly setTerminal: (
    providerId: string,
    state: "stopped" | "terminated" | "failed"
  ) => Effect.Effect<void>
  /** Removes an instance without telling anyone: `describe` returns `None` from now on. */
  readonly vanish: (providerId: string) => Effect.Effect<void>
  /** Announces that an instance will be taken away after `warning` (default 2 minutes), then takes it. */
  readonly terminationNotice: (providerId: string, warning?: Duration.DurationInput) => Effect.Effect<void>
  /** Calls made so far. */
  readonly calls: Effect.Effect<CallCounts>
  /** Every instance the simulation holds now (terminal ones included, deleted ones not). */
  readonly instances: Effect.Effect<ReadonlyArray<ProviderInstance>>
}

/** A simulated provider and the controls of its simulation. */
export interface Simulation {
  readonly provider: Provider.Service
  readonly controls: SimulationControls
}

interface Held {
  readonly request: CreateRequest
  readonly providerId: string
  readonly createdAt: number
  /** Creation order: `listAll`'s cursor. */
  readonly sequence: number
  terminal: ProviderState | undefined
}

/** Starts a simulation with `options`; call-independent timers (notices) run in the scope. */
export const make = (options: Options) =>
  Effect.gen(function* () {
    const scope = yield* Effect.scope
    const bucket = yield* TokenBucket.make(options.api)
    const notices = yield* PubSub.unbounded<TerminationNoticeSignal>()
    const held = new Map<string, Held>()
    // Provider ids are unique across simulations, as a real cloud's are across accounts' lifetimes.
    const idPrefix = `sim-${Crypto.randomUUID().slice(0, 6)}`
    let nextId = 1
    let nextSequence = 1
    const scripted: Array<"transient" | "permanent"> = []
    const counts = { create: 0, delete: 0, describe: 0, list: 0, listAll: 0, throttled: 0, failedCreates: 0 }

    const stateAt = (instance: Held, now: number): ProviderState =>
      instance.terminal ??
      (now - instance.createdAt >= Duration.toMillis(options.bootTime) ? "running" : "pending")

    const describeHeld = (instance: Held, now: number): ProviderInstance => ({
      providerId: instance.providerId,
      instanceId: instance.request.instanceId,
      tenant: instance.request.tenant,
      group: instance.request.group,
      templateHash: instance.request.templateHash,
      createdAt: instance.createdAt,
      state: stateAt(instance, now)
    })

    const call = <A, E>(
      operation: keyof Omit<CallCounts, "throttled" | "failedCreates">,
      latency: Duration.Duration,
      body: Effect.Effect<A, E>
    ): Effect.Effect<A, E | ProviderThrottledError> =>
      Effect.gen(function* () {
        counts[operation]++
        if (options.throttle === "wait") {
          yield* bucket.take
        } else {
          const token = yield* bucket.tryTake
          if (!token.taken) {
            counts.throttled++
            return yield* new ProviderThrottledError({
              operation,
              retryAfter: token.retryAfter,
              message: `simulated API rate limit (${options.api.burst} burst, ${options.api.perSecond}/s): retry after ${Duration.format(token.retryAfter)}`
            })
          }
        }
        if (!Duration.isZero(latency)) yield* Effect.sleep(latency)
        return yield* body
      })

    const liveCount = (now: number) => {
      let live = 0
      for (const instance of held.values()) if (!isTerminal(stateAt(instance, now))) live++
      return live
    }

    const create = (request: CreateRequest) =>
      call(
        "create",
        options.createLatency,
        Effect.gen(function* () {
          const now = yield* Clock.currentTimeMillis
          const fault = scripted.shift()
          const transient = fault === "transient" || (yield* Random.next) < options.failureRate
          if (fault === "permanent") {
            counts.failedCreates++
            return yield* new ProviderPermanentError({
              operation: "create",
              message: "simulated permanent failure: the template is refused"
            })
          }
          if (transient) {
            counts.failedCreates++
            return yield* new ProviderRetryableError({
              operation: "create",
              message: "simulated transient failure: capacity temporarily unavailable"
            })
          }
          if (options.quota !== undefined && liveCount(now) >= options.quota) {
            counts.failedCreates++
            return yield* new ProviderPermanentError({
              operation: "create",
              message: `simulated quota of ${options.quota} live instances exhausted: raise the quota or lower desired sizes`
            })
          }
          const instance: Held = {
            request,
            providerId: `${idPrefix}-${nextId++}`,
            createdAt: now,
            sequence: nextSequence++,
            terminal: undefined
          }
          held.set(instance.providerId, instance)
          return describeHeld(instance, now)
        })
      )

    const provider: Provider.Service = {
      name: "simulated",
      create,
      delete: (providerId) =>
        call(
          "delete",
          options.deleteLatency,
          Effect.sync(() => void held.delete(providerId))
        ),
      describe: (providerId) =>
        call(
          "describe",
          options.describeLatency,
          Effect.map(Clock.currentTimeMillis, (now) =>
            Option.map(Option.fromNullable(held.get(providerId)), (instance) => describeHeld(instance, now))
          )
        ),
      list: (tenant, group) =>
        call(
          "list",
          options.describeLatency,
          Effect.map(Clock.currentTimeMillis, (now) =>
            [...held.values()]
              .filter((instance) => instance.request.tenant === tenant && instance.request.group === group)
              .map((instance) => describeHeld(instance, now))
          )
        ),
      listAll: (pageToken) =>
        call(
          "listAll",
          options.describeLatency,
          Effect.gen(function* () {
            const after = pageToken === undefined ? 0 : Number(pageToken)
            if (!Number.isSafeInteger(after) || after < 0) {
              return yield* new ProviderPermanentError({
                operation: "listAll",
                message: `invalid page token "${pageToken}": pass the nextPageToken of the previous page`
              })
            }
            const now = yield* Clock.currentTimeMillis
            // The map holds instances in creation order, so the sequence cursor pages through it.
            const page: Array<Held> = []
            let more = false
            for (const instance of held.values()) {
              if (instance.sequence <= after) continue
              if (page.length === options.listPageSize) {
                more = true
                break
              }
              page.push(instance)
            }
            const last = page.at(-1)
            return {
              instances: page.map((instance) => describeHeld(instance, now)),
              nextPageToken: more && last !== undefined ? String(last.sequence) : undefined
            }
          })
        ),
      terminationNotices: Stream.fromPubSub(notices)
    }

    const setTerminal = (providerId: string, state: "stopped" | "terminated" | "failed") =>
      Effect.sync(() => {
        const instance = held.get(providerId)
        if (instance !== undefined) instance.terminal = state
      })

    const controls: SimulationControls = {
      failNextCreates: (count, kind) =>
        Effect.sync(() => {
          for (let index = 0; index < count; index++) scripted.push(kind)
        }),
      massFailure: (tenant, group, fraction) =>
        Effect.map(Clock.currentTimeMillis, (now) => {
          const live = [...held.values()].filter(
            (instance) =>
              instance.request.tenant === tenant &&
              instance.request.group === group &&
              !isTerminal(stateAt(instance, now))
          )
          const hit = live.slice(0, Math.ceil(live.length * Math.min(1, Math.max(0, fraction))))
          for (const instance of hit) instance.terminal = "failed"
          return hit.map((instance) => instance.providerId)
        }),
      setTerminal,
      vanish: (providerId) => Effect.sync(() => void held.delete(providerId)),
      terminationNotice: (providerId, warning = Duration.minutes(2)) =>
        Effect.gen(function* () {
          const instance = held.get(providerId)
          if (instance === undefined) return
          const now = yield* Clock.currentTimeMillis
          yield* PubSub.publish(notices, {
            providerId,
            instanceId: instance.request.instanceId,
            tenant: instance.request.tenant,
            group: instance.request.group,
            terminatesAt: now + Duration.toMillis(Duration.decode(warning))
          })
          yield* Effect.forkIn(Effect.delay(setTerminal(providerId, "terminated"), warning), scope)
        }),
      calls: Effect.sync(() => ({ ...counts })),
      instances: Effect.map(Clock.currentTimeMillis, (now) =>
        [...held.values()].map((instance) => describeHeld(instance, now))
      )
    }
    return { provider, controls } satisfies Simulation
  })
