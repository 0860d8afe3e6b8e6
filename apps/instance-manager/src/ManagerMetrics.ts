/**
 * What an operator watches at `/metrics` (Prometheus text, through `@converge/http`), on top of the
 * core's `converge_reconcile_*`, `converge_workqueue_*`, `converge_leader` and the create-wait
 * histogram `converge_instances_create_wait_seconds`:
 *
 * | metric | labels | from |
 * | --- | --- | --- |
 * | `converge_instances_creates_total`, `converge_instances_deletes_total` | tenant, group | provider calls that succeeded |
 * | `converge_instances_create_failures_total`, `converge_instances_delete_failures_total` | tenant, group, kind (`retryable` / `permanent` / `throttled`) | provider calls that failed |
 * | `converge_instances_provider_calls_total` | operation, outcome (`ok` or the kind) | every provider call |
 * | `converge_instances_lost_total` | tenant, group, state (`gone` / `stopped` / `terminated` / `failed`) | instances the provider reports gone or terminal (replaced without drain) |
 * | `converge_instances_replacements_total` | tenant, group, reason | drains started (every drain is a replacement) |
 * | `converge_instances_errors_total` | tenant, group | every `NotifyError` |
 * | `converge_instances_group_desired` / `_actual` / `_healthy` / `_draining` / `_breaker_open` | tenant, group | the status after each pass |
 * | `converge_instances_event_queue_pending` / `_capacity` / `_full` | | the durable event queue |
 * | `converge_instances_events_total` | outcome (`handled` / `discarded` / `skipped` / `failed` / `retried`) | event outcomes |
 * | `converge_instances_leader`, `converge_instances_term` | | leadership as the manager sees it |
 *
 * ```text
 *   Provider ──meteredProvider──▶ creates / deletes / failures / lost / provider calls
 *   Notifier ──meteredNotifier──▶ replacements (drains) / errors
 *   Status.changes ──track──▶ group gauges, queue gauges, event outcomes, leader, term
 * ```
 */
import type { Status } from "@converge/core"
import { Effect, Metric, MetricLabel, Option, Ref, type Scope, Stream } from "effect"
import type * as ManagerStatus from "./ManagerStatus.js"
import { isTerminal, type Provider, type ProviderError, type ProviderInstance } from "./provider/Provider.js"
import type { Notifier } from "./reconciler/Notifier.js"

const counter = (name: string, description: string) =>
  Metric.counter(name, { description, incremental: true })

/** Instances the provider created, by `tenant` and `group`. */
export const createsTotal = counter("converge_instances_creates_total", "Instances created by the provider")

/** Creates the provider refused, by `tenant`, `group` and `kind`. */
export const createFailuresTotal = counter(
  "converge_instances_create_failures_total",
  "Instance creates that failed, by kind (retryable, permanent, throttled)"
)

/** Instances the provider deleted, by `tenant` and `group`. */
export const deletesTotal = counter("converge_instances_deletes_total", "Instances deleted by the provider")

/** Deletes the provider refused, by `tenant`, `group` and `kind`. */
export const deleteFailuresTotal = counter(
  "converge_instances_delete_failures_total",
  "Instance deletes that failed, by kind (retryable, permanent, throttled)"
)

/** Every provider call, by `operation` and `outcome`. */
export const providerCallsTotal = counter(
  "converge_instances_provider_calls_total",
  "Provider API calls, by operation and outcome (ok, retryable, permanent, throttled)"
)

/** Instances the provider reported gone or terminal (counted once each), by `tenant`, `group`, `state`. */
export const lostTotal = counter(
  "converge_instances_lost_total",
  "Instances the provider reported gone or terminal; they are replaced without a drain"
)

/** Drains started, each a replacement, by `tenant`, `group` and `reason`. */
export const replacementsTotal = counter(
  "converge_instances_replacements_total",
  "Replacements with a drain, by reason (missed-health-reports, disconnected, termination-notice, forced-expiry, eligible-expiry, drift)"
)

/** Errors reported through `NotifyError`, by `tenant` and `group`. */
export const errorsTotal = counter("converge_instances_errors_total", "Errors reported (NotifyError)")

/** Event outcomes, by `outcome`. */
export const eventsTotal = counter(
  "converge_instances_events_total",
  "Events by outcome: handled, discarded (older term), skipped (preventDuplicate), failed (attempts exhausted or permanent), retried"
)

/** A group's desired size, by `tenant` and `group`. */
export const groupDesired = Metric.gauge("converge_instances_group_desired", {
  description: "Desired size of the group (0 once deleted)"
})
/** A group's live instances (draining ones included), by `tenant` and `group`. */
export const groupActual = Metric.gauge("converge_instances_group_actual", {
  description: "Live instances of the group, draining ones included"
})
/** A group's healthy instances, by `tenant` and `group`. */
export const groupHealthy = Metric.gauge("converge_instances_group_healthy", {
  description: "Running instances of the group that report health"
})
/** A group's draining instances, by `tenant` and `group`. */
export const groupDraining = Metric.gauge("converge_instances_group_draining", {
  description: "Instances of the group that are draining"
})
/** 1 while a group's replacement budget is used up, by `tenant` and `group`. */
export const groupBreakerOpen = Metric.gauge("converge_instances_group_breaker_open", {
  description:
    "1 while the group's replacement budget is used up (no more health, expiry or drift replacements this window)"
})
/** Events waiting in the durable queue. */
export const eventQueuePending = Metric.gauge("converge_instances_event_queue_pending", {
  description: "Events waiting in the durable event queue"
})
/** The durable queue's capacity. */
export const eventQueueCapacity = Metric.gauge("converge_instances_event_queue_capacity", {
  description: "Capacity of the durable event queue"
})
/** 1 while the durable queue is full (producers wait, the API answers 503). */
export const eventQueueFull = Metric.gauge("converge_instances_event_queue_full", {
  description: "1 while the event queue is full: producers wait and the API answers 503"
})
/** 1 while this manager leads. */
export const leader = Metric.gauge("converge_instances_leader", {
  description: "1 while this manager holds leadership"
})
/** The leadership term this manager last acted under. */
export const term = Metric.gauge("converge_instances_term", {
  description: "The leadership term the manager last acted under"
})

const labelled = <Type, In, Out>(
  metric: Metric.Metric<Type, In, Out>,
  labels: Record<string, string>
): Metric.Metric<Type, In, Out> =>
  Metric.taggedWithLabels(
    metric,
    Object.entries(labels).map(([key, value]) => MetricLabel.make(key, value))
  )

const kindOf = (error: ProviderError): string =>
  error._tag === "ProviderPermanentError"
    ? "permanent"
    : error._tag === "ProviderThrottledError"
      ? "throttled"
      : "retryable"

interface Owner {
  readonly tenant: string
  readonly group: string
}

/**
 * The provider with every call counted. Deletes are attributed to a group through the instances
 * it has seen (created, listed or described; the rebuild on each leadership acquisition lists
 * them all), else to `unknown`.
 */
export const meteredProvider = (provider: Provider.Service): Provider.Service => {
  const owners = new Map<string, Owner>()
  const lost = new Set<string>()
  const remember = (instance: ProviderInstance) =>
    owners.set(instance.providerId, { tenant: instance.tenant, group: instance.group })
  const call = <A, R>(operation: string, effect: Effect.Effect<A, ProviderError, R>) =>
    effect.pipe(
      Effect.tap(() => Metric.increment(labelled(providerCallsTotal, { operation, outcome: "ok" }))),
      Effect.tapError((error) =>
        Metric.increment(labelled(providerCallsTotal, { operation, outcome: kindOf(error) }))
      )
    )
  const countLost = (providerId: string, owner: Owner, state: string) =>
    lost.has(providerId)
      ? Effect.void
      : Effect.zipRight(
          Effect.sync(() => lost.add(providerId)),
          Metric.increment(labelled(lostTotal, { ...ownerLabels(owner), state }))
        )
  return {
    name: provider.name,
    terminationNotices: provider.terminationNotices,
    create: (request) =>
      call("create", provider.create(request)).pipe(
        Effect.tap((instance) =>
          Effect.zipRight(
            Effect.sync(() => remember(instance)),
            Metric.increment(labelled(createsTotal, ownerLabels(request)))
          )
        ),
        Effect.tapError((error) =>
          Metric.increment(labelled(createFailuresTotal, { ...ownerLabels(request), kind: kindOf(error) }))
        )
      ),
    delete: (providerId) => {
      const owner = owners.get(providerId) ?? { tenant: "unknown", group: "unknown" }
      return call("delete", provider.delete(providerId)).pipe(
        Effect.tap(() =>
          Effect.zipRight(
            Effect.sync(() => {
              owners.delete(providerId)
              lost.delete(providerId)
            }),
            Metric.increment(labelled(deletesTotal, ownerLabels(owner)))
          )
        ),
        Effect.tapError((error) =>
          Metric.increment(labelled(deleteFailuresTotal, { ...ownerLabels(owner), kind: kindOf(error) }))
        )
      )
    },
    describe: (providerId) =>
      call("describe", provider.describe(providerId)).pipe(
        Effect.tap(
          Option.match({
            onNone: () => {
              // Gone for good: counted once, then forgotten (the manager never deletes it at the provider).
              const owner = owners.get(providerId)
              return owner === undefined
                ? Effect.void
                : Effect.zipRight(
                    countLost(providerId, owner, "gone"),
                    Effect.sync(() => {
                      owners.delete(providerId)
                      lost.delete(providerId)
                    })
                  )
            },
            onSome: (instance) =>
              Effect.zipRight(
                Effect.sync(() => remember(instance)),
                isTerminal(instance.state) ? countLost(providerId, instance, instance.state) : Effect.void
              )
          })
        )
      ),
    list: (tenant, group) =>
      call("list", provider.list(tenant, group)).pipe(
        Effect.tap((instances) => Effect.sync(() => instances.forEach(remember)))
      ),
    listAll: (pageToken) =>
      call("listAll", provider.listAll(pageToken)).pipe(
        Effect.tap((page) => Effect.sync(() => page.instances.forEach(remember)))
      )
  }
}

const ownerLabels = (owner: Owner) => ({ tenant: owner.tenant, group: owner.group })

/** The notifier with drains counted as replacements (by reason) and errors counted by group. */
export const meteredNotifier = (notifier: Notifier.Service): Notifier.Service => ({
  notifyDrain: (drain) =>
    Effect.zipRight(
      Metric.increment(labelled(replacementsTotal, { ...ownerLabels(drain), reason: drain.reason })),
      notifier.notifyDrain(drain)
    ),
  notifyError: (error) =>
    Effect.zipRight(Metric.increment(labelled(errorsTotal, ownerLabels(error))), notifier.notifyError(error))
})

const eventOutcomes = ["handled", "discarded", "skipped", "failed", "retried"] as const

const flag = (value: boolean) => (value ? 1 : 0)

/** Sets the gauges of one status snapshot and counts the event outcomes added since `previous`. */
const record = (previous: ManagerStatus.ManagerStatus["events"], snapshot: ManagerStatus.ManagerStatus) =>
  Effect.gen(function* () {
    for (const group of Object.values(snapshot.groups)) {
      const labels = { tenant: group.tenant, group: group.group }
      yield* Metric.set(labelled(groupDesired, labels), group.desired)
      yield* Metric.set(labelled(groupActual, labels), group.actual)
      yield* Metric.set(labelled(groupHealthy, labels), group.healthy)
      yield* Metric.set(labelled(groupDraining, labels), group.draining)
      yield* Metric.set(labelled(groupBreakerOpen, labels), flag(group.breakerOpen))
    }
    yield* Metric.set(eventQueuePending, snapshot.queue.pendingEvents)
    yield* Metric.set(eventQueueCapacity, snapshot.queue.capacity)
    yield* Metric.set(eventQueueFull, flag(snapshot.queue.full))
    yield* Metric.set(leader, flag(snapshot.leader))
    yield* Metric.set(term, snapshot.term)
    for (const outcome of eventOutcomes) {
      const added = snapshot.events[outcome] - previous[outcome]
      if (added > 0) yield* Metric.incrementBy(labelled(eventsTotal, { outcome }), added)
    }
  })

/**
 * Follows the manager's status for the scope's lifetime: per-group gauges, the event queue,
 * leadership, and event outcomes as counters. Returns once the current snapshot is recorded.
 */
export const track = (
  status: Status.Status<ManagerStatus.ManagerStatus, typeof ManagerStatus.ManagerStatus.Encoded>
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function* () {
    const first = yield* status.get
    const previous = yield* Ref.make(first.events)
    yield* record({ handled: 0, discarded: 0, skipped: 0, failed: 0, retried: 0 }, first)
    yield* Effect.forkScoped(
      Stream.runForEach(status.changes, (snapshot) =>
        Effect.flatMap(Ref.getAndSet(previous, snapshot.events), (before) => record(before, snapshot))
      )
    )
  })
