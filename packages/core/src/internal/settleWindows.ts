/**
 * The timing engine shared by `Debouncer` and `KeyedDebouncer`: one debounce window per key.
 *
 * ```text
 *   offer(key, change) ──▶ entry.value, changedAt = now, start the key's timer if none runs
 *   timer wakes: due? ───┐  (due = min(changedAt + window, unsettledSince + maxWait); else sleeps again)
 *   settleNow(key) ──────┴─▶ settle(key, value), one at a time per key
 * ```
 *
 * A key has at most one timer fiber, which re-sleeps until the current due time instead of
 * being replaced on every change: a busy key costs no fiber churn.
 *
 * Settles of one key never overlap: a settle that comes due while another runs is marked
 * `settleAgain`, and the running settle loops once more with the latest value when it
 * returns. This also makes a call back into `offer` / `settleNow` from inside `settle`
 * safe (it cannot deadlock), even with a zero window.
 */
import {
  Clock,
  Duration,
  Effect,
  Fiber,
  FiberSet,
  HashMap,
  Option,
  type Scope,
  SynchronizedRef
} from "effect"

interface Timer {
  readonly id: number
  readonly fiber: Fiber.RuntimeFiber<void>
}

interface Entry<V> {
  readonly value: V
  /** Changed since the last settle began. */
  readonly unsettled: boolean
  /** When the value last changed, in clock milliseconds. */
  readonly changedAt: number
  /** When the first change not yet settled happened, in clock milliseconds. */
  readonly unsettledSince: number
  readonly timer: Timer | undefined
  readonly settling: boolean
  readonly settleAgain: boolean
}

interface State<K, V> {
  readonly closed: boolean
  readonly nextTimerId: number
  readonly entries: HashMap.HashMap<K, Entry<V>>
}

type Trigger =
  | { readonly _tag: "TimerWoke"; readonly id: number }
  | { readonly _tag: "Now"; readonly force: boolean }

type Action<V> =
  | { readonly _tag: "Nothing" }
  | { readonly _tag: "Settle"; readonly value: V }
  | { readonly _tag: "SleepAgain"; readonly millis: number }

const nothing: Action<never> = { _tag: "Nothing" }

/** The options of `make`. */
export interface Options<K, V> {
  readonly window: Duration.Duration
  readonly maxWait: Option.Option<Duration.Duration>
  /** Keep a key's value after it settles (the record debouncer) or forget it (the keyed one). */
  readonly retainSettled: boolean
  readonly initial: Iterable<readonly [K, V]>
  /** Delivers a settled value; must not fail (failures are reported by the caller's wrapper). */
  readonly settle: (key: K, value: V) => Effect.Effect<void>
}

/** Debounce windows per key. */
export interface SettleWindows<K, V> {
  /**
   * Applies `change` to the key's current value (`None` when the key holds no state);
   * `change` returns `None` for "nothing changed". A change restarts the key's window, or
   * settles before returning when the window is zero.
   */
  readonly offer: (key: K, change: (current: Option.Option<V>) => Option.Option<V>) => Effect.Effect<void>
  /** Settles the key now if it has unsettled changes (or, with `force`, whenever it holds a value). */
  readonly settleNow: (key: K, force: boolean) => Effect.Effect<void>
  /** Settles every key with unsettled changes now. */
  readonly settleAll: Effect.Effect<void>
  /** The key's current value, pending or settled. */
  readonly get: (key: K) => Effect.Effect<Option.Option<V>>
  /** Keys holding state: waiting for their window or settling. */
  readonly size: Effect.Effect<number>
  /** Cancels every pending window; later offers and settles do nothing. Running settles finish. */
  readonly close: Effect.Effect<void>
}

const cancelTimer = <V>(entry: Entry<V>, firing?: number): Effect.Effect<void> =>
  entry.timer === undefined || entry.timer.id === firing
    ? Effect.void
    : Fiber.interruptFork(entry.timer.fiber)

/** Creates the windows; every timer and settle fiber lives in the given scope. */
export const make = <K, V>(options: Options<K, V>): Effect.Effect<SettleWindows<K, V>, never, Scope.Scope> =>
  Effect.gen(function* () {
    const fibers = yield* FiberSet.make<void>()
    const windowMillis = Duration.toMillis(options.window)
    const maxWaitMillis = Option.match(options.maxWait, { onNone: () => Infinity, onSome: Duration.toMillis })
    const settledEntry = (value: V): Entry<V> => ({
      value,
      unsettled: false,
      changedAt: 0,
      unsettledSince: 0,
      timer: undefined,
      settling: false,
      settleAgain: false
    })
    const state = yield* SynchronizedRef.make<State<K, V>>({
      closed: false,
      nextTimerId: 0,
      entries: HashMap.fromIterable(
        Array.from(options.initial, ([key, value]) => [key, settledEntry(value)] as const)
      )
    })

    const modify = <B>(f: (current: State<K, V>) => Effect.Effect<readonly [B, State<K, V>]>) =>
      Effect.uninterruptible(SynchronizedRef.modifyEffect(state, f))

    const withEntry = (current: State<K, V>, key: K, entry: Entry<V>): State<K, V> => ({
      ...current,
      entries: HashMap.set(current.entries, key, entry)
    })

    const dueAt = (entry: Entry<V>) =>
      Math.min(entry.changedAt + windowMillis, entry.unsettledSince + maxWaitMillis)

    /** Decides what `trigger` means for `key` right now, updating the state to match. */
    const claim = (key: K, trigger: Trigger) =>
      modify<Action<V>>((current) =>
        Effect.gen(function* () {
          const found = HashMap.get(current.entries, key)
          if (current.closed || Option.isNone(found)) return [nothing, current] as const
          const entry = found.value
          const firing = trigger._tag === "TimerWoke" ? trigger.id : undefined
          if (trigger._tag === "TimerWoke") {
            if (entry.timer?.id !== trigger.id) return [nothing, current] as const
            const now = yield* Clock.currentTimeMillis
            const due = dueAt(entry)
            if (now < due) return [{ _tag: "SleepAgain", millis: due - now } as const, current] as const
          } else if (!entry.unsettled && !trigger.force) {
            return [nothing, current] as const
          }
          yield* cancelTimer(entry, firing)
          if (entry.settling) {
            return [
              nothing,
              withEntry(current, key, { ...entry, timer: undefined, settleAgain: true })
            ] as const
          }
          const claimed: Entry<V> = {
            ...entry,
            timer: undefined,
            unsettled: false,
            settling: true,
            settleAgain: false
          }
          return [{ _tag: "Settle", value: entry.value } as const, withEntry(current, key, claimed)] as const
        })
      )

    /** Settles `key` if `trigger` makes it due (a timer re-sleeps until it is due). */
    const request = (key: K, trigger: Trigger): Effect.Effect<void> =>
      Effect.flatMap(claim(key, trigger), (action) => {
        switch (action._tag) {
          case "Nothing":
            return Effect.void
          case "Settle":
            return settleLoop(key, action.value)
          case "SleepAgain":
            return Effect.zipRight(Effect.sleep(Duration.millis(action.millis)), request(key, trigger))
        }
      })

    /** Delivers `value`, then delivers again while settles came due during the previous one. */
    const settleLoop = (key: K, value: V): Effect.Effect<void> =>
      Effect.zipRight(
        options.settle(key, value),
        Effect.flatMap(
          modify((current) => {
            const found = HashMap.get(current.entries, key)
            if (Option.isNone(found)) return Effect.succeed([Option.none<V>(), current] as const)
            const entry = found.value
            if (current.closed || !entry.settleAgain) {
              const done: State<K, V> =
                !entry.unsettled && !options.retainSettled
                  ? { ...current, entries: HashMap.remove(current.entries, key) }
                  : withEntry(current, key, { ...entry, settling: false, settleAgain: false })
              return Effect.succeed([Option.none<V>(), done] as const)
            }
            const again: Entry<V> = { ...entry, unsettled: false, timer: undefined, settleAgain: false }
            return Effect.as(cancelTimer(entry), [
              Option.some(entry.value),
              withEntry(current, key, again)
            ] as const)
          }),
          Option.match({ onNone: () => Effect.void, onSome: (next) => settleLoop(key, next) })
        )
      )

    /** Runs a settle on a fiber of its own and waits for it, so interrupting the caller never cuts a settle short. */
    const settleDetached = (key: K, force: boolean) =>
      FiberSet.run(fibers, request(key, { _tag: "Now", force })).pipe(
        Effect.flatMap(Fiber.await),
        Effect.asVoid
      )

    const startTimer = (current: State<K, V>, key: K) =>
      Effect.map(
        // Forked from inside the (uninterruptible) state update: without `interruptible` the
        // timer would inherit that and could not be cancelled.
        FiberSet.run(
          fibers,
          Effect.interruptible(
            Effect.zipRight(
              Effect.sleep(Duration.millis(Math.min(windowMillis, maxWaitMillis))),
              request(key, { _tag: "TimerWoke", id: current.nextTimerId })
            )
          )
        ),
        (fiber): readonly [Timer, number] => [{ id: current.nextTimerId, fiber }, current.nextTimerId + 1]
      )

    const offer = (key: K, change: (current: Option.Option<V>) => Option.Option<V>): Effect.Effect<void> =>
      Effect.flatMap(
        modify((current) =>
          Effect.gen(function* () {
            if (current.closed) return [false, current] as const
            const found = HashMap.get(current.entries, key)
            const changed = change(Option.map(found, (entry) => entry.value))
            if (Option.isNone(changed)) return [false, current] as const
            const previous = Option.getOrUndefined(found)
            const now = yield* Clock.currentTimeMillis
            const entry: Entry<V> = {
              value: changed.value,
              unsettled: true,
              changedAt: now,
              unsettledSince: previous?.unsettled ? previous.unsettledSince : now,
              timer: previous?.timer,
              settling: previous?.settling ?? false,
              settleAgain: previous?.settleAgain ?? false
            }
            if (windowMillis === 0) return [true, withEntry(current, key, entry)] as const
            if (entry.timer !== undefined) return [false, withEntry(current, key, entry)] as const
            const [timer, nextTimerId] = yield* startTimer(current, key)
            return [false, withEntry({ ...current, nextTimerId }, key, { ...entry, timer })] as const
          })
        ),
        (settleImmediately) => (settleImmediately ? settleDetached(key, false) : Effect.void)
      )

    const close = modify((current) =>
      Effect.as(
        Effect.forEach(HashMap.values(current.entries), (entry) => cancelTimer(entry), { discard: true }),
        [
          undefined,
          {
            ...current,
            closed: true,
            entries: options.retainSettled
              ? HashMap.map(current.entries, (entry) => ({ ...entry, timer: undefined, settleAgain: false }))
              : HashMap.empty()
          }
        ] as const
      )
    )
    yield* Effect.addFinalizer(() => close)

    return {
      offer,
      settleNow: settleDetached,
      settleAll: Effect.flatMap(SynchronizedRef.get(state), (current) =>
        Effect.forEach(HashMap.keys(current.entries), (key) => settleDetached(key, false), { discard: true })
      ),
      get: (key) =>
        Effect.map(SynchronizedRef.get(state), (current) =>
          Option.map(HashMap.get(current.entries, key), (entry) => entry.value)
        ),
      size: Effect.map(SynchronizedRef.get(state), (current) => HashMap.size(current.entries)),
      close
    }
  })
