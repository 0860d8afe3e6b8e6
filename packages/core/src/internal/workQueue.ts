/**
 * The work queue's state machine, synchronous and single-threaded (fibers interleave only between
 * Effect steps, so every method here is atomic). `WorkQueue.ts` wraps it in Effects; the Controller
 * calls it directly on its hot path.
 *
 * ```text
 *   add ──▶ ready ◀──(due)── delayed heap ◀── add with a delay
 *             │                (promoted by the timer fiber)
 *           take
 *             ▼
 *        processing ──done──▶ forgotten, or waiting again if added meanwhile ("dirty")
 * ```
 *
 * One `KeyState` per known key holds its phase, due time, dirty mark and failure count, so a
 * key's whole trip costs one map insert and one delete.
 */
import { type Clock, Duration, Effect, MetricLabel, type Scope } from "effect"
import * as Metrics from "../Metrics.js"
import * as RetryPolicy from "../RetryPolicy.js"
import type { Options, RateLimit } from "../WorkQueue.js"
import { Fifo } from "./Fifo.js"
import { KeyMap } from "./KeyMap.js"
import { MinHeap } from "./MinHeap.js"
import { TokenBucket } from "./TokenBucket.js"

/** Where a known key is: only failures remembered, ready, delayed, or being processed. */
type Phase = "idle" | "ready" | "delayed" | "processing"

/** Everything the queue knows about one key. */
export interface KeyState<K> {
  readonly key: K
  phase: Phase
  /** When it became (or becomes) ready, while ready or delayed. */
  dueMillis: number
  /** While processing: the earliest due time of an add made meanwhile, `Infinity` if none. */
  dirtyDueMillis: number
  /** Failures counted by `addRateLimited` since the last `forget`. */
  failures: number
  /** Identifies the heap entry that is current while delayed; older entries are skipped. */
  delayedSequence: number
}

interface DelayedEntry<K> {
  readonly state: KeyState<K>
  readonly dueMillis: number
  readonly sequence: number
}

type Resume = (effect: Effect.Effect<void>) => void

const delayedBefore = <K>(a: DelayedEntry<K>, b: DelayedEntry<K>): boolean =>
  a.dueMillis < b.dueMillis || (a.dueMillis === b.dueMillis && a.sequence < b.sequence)

/** controller-runtime's default bucket for rate-limited re-adds: 10 per second, bursts of 100. */
export const defaultRateLimit: RateLimit = { perSecond: 10, burst: 100 }

/** A failure counted by `addRateLimited`: the attempt that failed and the wait before the next. */
export interface Retry {
  readonly attempt: number
  readonly delayMillis: number
}

/** Creates the state, runs its timer in the scope, and shuts it down when the scope closes. Dies on a bad rate limit. */
export const makeState = <K>(options: Options): Effect.Effect<WorkQueueState<K>, never, Scope.Scope> =>
  Effect.gen(function* () {
    const rateLimit = options.rateLimit ?? defaultRateLimit
    if (rateLimit !== false && !(rateLimit.perSecond > 0 && rateLimit.burst >= 1)) {
      return yield* Effect.dieMessage(
        `WorkQueue "${options.name}": rateLimit needs perSecond > 0 and burst >= 1, got perSecond ${rateLimit.perSecond}, burst ${rateLimit.burst}`
      )
    }
    const clock = yield* Effect.clock
    const state = new WorkQueueState<K>(
      options.name,
      options.retryPolicy ?? RetryPolicy.controller,
      rateLimit,
      clock
    )
    yield* Effect.addFinalizer(() => Effect.sync(() => state.shutdown()))
    yield* Effect.forkScoped(state.runTimer)
    return state
  })

/** The synchronous core of a work queue. */
export class WorkQueueState<K> {
  private readonly keys = new KeyMap<K, KeyState<K>>()
  private readonly ready = new Fifo<KeyState<K>>()
  private readonly delayed = new MinHeap<DelayedEntry<K>>(delayedBefore)
  private readonly bucket: TokenBucket | undefined
  private readonly takers: Array<Resume> = []
  private readonly idleWaiters: Array<Resume> = []
  private readonly nameTags: ReadonlyArray<MetricLabel.MetricLabel>
  private timerWake: Resume | undefined = undefined
  private timerDueMillis = Number.POSITIVE_INFINITY
  private sequence = 0
  private waitingCount = 0
  private processingCount = 0
  private closed = false

  constructor(
    readonly name: string,
    readonly retryPolicy: RetryPolicy.RetryPolicy,
    rateLimit: RateLimit | false,
    private readonly clock: Clock.Clock
  ) {
    this.bucket = rateLimit === false ? undefined : new TokenBucket(rateLimit.perSecond, rateLimit.burst)
    this.nameTags = [MetricLabel.make("name", name)]
    Metrics.workqueueDepth.unsafeUpdate(0, this.nameTags)
  }

  /** Keys waiting, ready or delayed. */
  get depth(): number {
    return this.waitingCount
  }

  /** Keys taken and not yet done. */
  get inFlight(): number {
    return this.processingCount
  }

  get isShutdown(): boolean {
    return this.closed
  }

  /** Schedules `key` to be ready `delayMillis` from now; the earliest due time wins. */
  add(key: K, delayMillis: number): void {
    if (this.closed) return
    const now = this.clock.unsafeCurrentTimeMillis()
    const dueMillis = delayMillis > 0 ? now + delayMillis : now
    const state = this.keys.get(key)
    if (state === undefined) {
      const created: KeyState<K> = {
        key,
        phase: "idle",
        dueMillis,
        dirtyDueMillis: Number.POSITIVE_INFINITY,
        failures: 0,
        delayedSequence: -1
      }
      this.keys.set(key, created)
      this.schedule(created, dueMillis, now)
    } else {
      this.addState(state, dueMillis, now)
    }
  }

  private addState(state: KeyState<K>, dueMillis: number, now: number): void {
    switch (state.phase) {
      case "idle":
        this.schedule(state, dueMillis, now)
        break
      case "ready":
        break
      case "delayed":
        if (dueMillis < state.dueMillis) this.place(state, dueMillis, now)
        break
      case "processing":
        if (dueMillis < state.dirtyDueMillis) {
          if (state.dirtyDueMillis === Number.POSITIVE_INFINITY) {
            Metrics.workqueueAddsTotal.unsafeUpdate(1, this.nameTags)
          }
          state.dirtyDueMillis = dueMillis
        }
    }
  }

  /** Makes an idle key wait. */
  private schedule(state: KeyState<K>, dueMillis: number, now: number): void {
    this.waitingCount++
    Metrics.workqueueAddsTotal.unsafeUpdate(1, this.nameTags)
    Metrics.workqueueDepth.unsafeUpdate(this.waitingCount, this.nameTags)
    this.place(state, dueMillis, now)
  }

  /** Puts a waiting key in the ready queue or the delayed heap, by its due time. */
  private place(state: KeyState<K>, dueMillis: number, now: number): void {
    state.dueMillis = dueMillis
    if (dueMillis <= now) {
      this.pushReady(state)
      return
    }
    state.phase = "delayed"
    const sequence = this.sequence++
    state.delayedSequence = sequence
    this.delayed.push({ state, dueMillis, sequence })
    if (dueMillis < this.timerDueMillis) this.wakeTimer()
  }

  private pushReady(state: KeyState<K>): void {
    state.phase = "ready"
    this.ready.push(state)
    const taker = this.takers.shift()
    if (taker !== undefined) taker(Effect.void)
  }

  /** Takes the next ready key and marks it processing, or returns `undefined` when none is ready. */
  tryTake(): KeyState<K> | undefined {
    if (this.closed) return undefined
    const state = this.ready.shift()
    if (state === undefined) return undefined
    state.phase = "processing"
    state.dirtyDueMillis = Number.POSITIVE_INFINITY
    this.waitingCount--
    this.processingCount++
    Metrics.workqueueDepth.unsafeUpdate(this.waitingCount, this.nameTags)
    const waitedSeconds = (this.clock.unsafeCurrentTimeMillis() - state.dueMillis) / 1000
    Metrics.workqueueQueueDurationSeconds.unsafeUpdate(Math.max(0, waitedSeconds), this.nameTags)
    return state
  }

  /** Waits until a key is ready, then takes it; `undefined` once the queue is shut down. */
  readonly takeState: Effect.Effect<KeyState<K> | undefined> = Effect.suspend(() => {
    const state = this.tryTake()
    if (state !== undefined || this.closed) return Effect.succeed(state)
    return this.awaitReady
  })

  /** Waits until a key is ready, then takes it; interrupts the caller once the queue is shut down. */
  readonly take: Effect.Effect<K> = Effect.flatMap(this.takeState, (state) =>
    state === undefined ? Effect.interrupt : Effect.succeed(state.key)
  )

  private readonly awaitReady: Effect.Effect<KeyState<K> | undefined> = Effect.onInterrupt(
    Effect.zipRight(
      Effect.async<void>((resume) => {
        this.takers.push(resume)
        return Effect.sync(() => {
          const index = this.takers.indexOf(resume)
          if (index >= 0) this.takers.splice(index, 1)
        })
      }),
      Effect.suspend(() => this.takeState)
    ),
    // A taker woken for a key but interrupted before taking it passes the wake-up on.
    () =>
      Effect.sync(() => {
        if (this.ready.length > 0) this.takers.shift()?.(Effect.void)
      })
  )

  /** Marks `key` finished; if it was added while processing, it waits again for its earliest due time. */
  done(key: K): void {
    const state = this.keys.get(key)
    if (state !== undefined) this.doneState(state)
  }

  /** `done` for a state returned by `tryTake`/`takeState`. */
  doneState(state: KeyState<K>): void {
    if (state.phase !== "processing") return
    state.phase = "idle"
    this.processingCount--
    if (state.dirtyDueMillis !== Number.POSITIVE_INFINITY && !this.closed) {
      this.schedule(state, state.dirtyDueMillis, this.clock.unsafeCurrentTimeMillis())
    } else if (state.failures === 0) {
      this.keys.delete(state.key)
    }
    this.notifyIfIdle()
  }

  /** Failures counted against `key` since the last `forget`. */
  failuresOf(key: K): number {
    return this.keys.get(key)?.failures ?? 0
  }

  /** Forgets the failures counted against `key`, so its next failure starts from the initial delay. */
  forget(key: K): void {
    const state = this.keys.get(key)
    if (state !== undefined) this.forgetState(state)
  }

  /** `forget` for a known state. */
  forgetState(state: KeyState<K>): void {
    if (state.failures === 0) return
    state.failures = 0
    if (state.phase === "idle") this.keys.delete(state.key)
  }

  /**
   * Counts a failure for `key` and re-adds it after the larger of its per-key backoff and the token
   * bucket's wait; `random` places the jitter. `undefined` when the policy's attempts are used up:
   * the key is then forgotten, not re-added.
   */
  addRateLimited(key: K, random: number | undefined): Retry | undefined {
    if (this.closed) return undefined
    const attempt = this.failuresOf(key) + 1
    if (!RetryPolicy.hasAttemptsLeft(this.retryPolicy, attempt)) {
      this.forget(key)
      return undefined
    }
    const now = this.clock.unsafeCurrentTimeMillis()
    const backoffMillis = RetryPolicy.delayMillis(this.retryPolicy, attempt, random)
    const bucketMillis = this.bucket === undefined ? 0 : this.bucket.reserve(now)
    const delayMillis = Math.max(backoffMillis, bucketMillis)
    Metrics.workqueueRetriesTotal.unsafeUpdate(1, this.nameTags)
    this.add(key, delayMillis)
    this.keys.get(key)!.failures = attempt
    return { attempt, delayMillis }
  }

  /** `addRateLimited` with the jitter drawn from Effect's `Random`. */
  addRateLimitedEffect(key: K): Effect.Effect<Retry | undefined> {
    return RetryPolicy.isJittered(this.retryPolicy)
      ? Effect.map(
          Effect.randomWith((random) => random.next),
          (sample) => this.addRateLimited(key, sample)
        )
      : Effect.sync(() => this.addRateLimited(key, undefined))
  }

  /** Moves every delayed key whose time has come to the ready queue. */
  private promoteDue(now: number): void {
    while (true) {
      const head = this.delayed.peek()
      if (head === undefined || head.dueMillis > now) break
      this.delayed.pop()
      const state = head.state
      if (state.phase === "delayed" && state.delayedSequence === head.sequence) this.pushReady(state)
    }
    this.notifyIfIdle()
  }

  private wakeTimer(): void {
    const wake = this.timerWake
    if (wake !== undefined) {
      this.timerWake = undefined
      wake(Effect.void)
    }
  }

  private readonly awaitTimerWake: Effect.Effect<void> = Effect.async<void>((resume) => {
    this.timerWake = resume
    return Effect.sync(() => {
      if (this.timerWake === resume) this.timerWake = undefined
    })
  })

  /** The timer loop: promotes delayed keys at their due time; ends when the queue shuts down. */
  readonly runTimer: Effect.Effect<void> = Effect.whileLoop({
    while: () => !this.closed,
    body: () =>
      Effect.suspend(() => {
        const now = this.clock.unsafeCurrentTimeMillis()
        this.promoteDue(now)
        const head = this.delayed.peek()
        if (head === undefined) {
          this.timerDueMillis = Number.POSITIVE_INFINITY
          return this.awaitTimerWake
        }
        const dueMillis = head.dueMillis
        this.timerDueMillis = dueMillis
        // A Duration holds whole nanoseconds and a clock's time is a float, so the sleep may end a
        // fraction of a nanosecond before `dueMillis` (a jittered delay rarely is a whole number of
        // nanoseconds). Keys due by `dueMillis` are promoted when it ends all the same: checking
        // them against the clock again would sleep the zero-length rest forever, and under
        // `TestClock` that spin never suspends, so `TestClock.adjust` never returns.
        return Effect.raceFirst(
          Effect.map(this.clock.sleep(Duration.millis(dueMillis - now)), () => this.promoteDue(dueMillis)),
          this.awaitTimerWake
        )
      }),
    step: () => undefined
  })

  /** No key ready or due, none processing (keys scheduled for later do not count). */
  private isIdle(): boolean {
    if (this.ready.length > 0 || this.processingCount > 0) return false
    const head = this.delayed.peek()
    return head === undefined || head.dueMillis > this.clock.unsafeCurrentTimeMillis()
  }

  private notifyIfIdle(): void {
    if (this.idleWaiters.length === 0 || !this.isIdle()) return
    for (const waiter of this.idleWaiters.splice(0)) waiter(Effect.void)
  }

  /** Waits until no key is ready or due and none is processing. */
  readonly awaitIdle: Effect.Effect<void> = Effect.suspend(() =>
    this.isIdle()
      ? Effect.void
      : Effect.async<void>((resume) => {
          this.idleWaiters.push(resume)
          return Effect.sync(() => {
            const index = this.idleWaiters.indexOf(resume)
            if (index >= 0) this.idleWaiters.splice(index, 1)
          })
        })
  )

  /** Drops every waiting key and failure count, refuses later adds, and wakes takers; processing keys may still be done. */
  shutdown(): void {
    if (this.closed) return
    this.closed = true
    for (const state of this.keys.values()) {
      if (state.phase === "processing") {
        state.dirtyDueMillis = Number.POSITIVE_INFINITY
        state.failures = 0
      } else {
        this.keys.delete(state.key)
      }
    }
    this.ready.clear()
    this.delayed.clear()
    this.waitingCount = 0
    Metrics.workqueueDepth.unsafeUpdate(0, this.nameTags)
    for (const taker of this.takers.splice(0)) taker(Effect.void)
    this.wakeTimer()
    this.notifyIfIdle()
  }
}
