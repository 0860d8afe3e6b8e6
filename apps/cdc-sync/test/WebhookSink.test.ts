import { TestDatabase } from "@converge/testing"
import { NodeHttpClient } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Chunk, Clock, Duration, Effect, Exit, Fiber, Layer, Option, TestClock, TestContext } from "effect"
import * as Lsn from "../src/capture/Lsn.js"
import type { DocumentWrite } from "../src/sinks/Sink.js"
import * as WebhookSink from "../src/sinks/WebhookSink.js"
import * as WebhookReceiver from "./fixtures/WebhookReceiver.js"

const lsn = (text: string) => Lsn.parse(text) ?? Lsn.zero

const sinkFor = (url: string, overrides: Partial<WebhookSink.Options> = {}) =>
  WebhookSink.make({
    name: "hooks",
    url,
    headers: { authorization: "Bearer secret" },
    timeout: "5 seconds",
    maxBatch: 2,
    attempts: 4,
    retryDelay: "10 millis",
    stateSchema: "hook_state",
    ...overrides
  })

const writes: ReadonlyArray<DocumentWrite> = [
  { index: "orders", id: "1", json: '{"id":1,"status":"paid"}', lsn: lsn("0/100") },
  { index: "orders", id: "2", json: '{"id":2,"status":"open"}', lsn: lsn("0/100") },
  { index: "orders", id: "3", json: null, lsn: lsn("0/100") }
]

/**
 * The request timeout of the tests on `TestClock`: it sleeps on the clock too, and stays listed
 * after its request ends, so `nextRetryIn` tells it from a retry by its length.
 */
const timeoutOnTestClock = "30 days"

/**
 * Polls `probe` between turns of the event loop until it finds something: the sink's requests are
 * real I/O, so the wait is bounded by the real clock (30 s), not `TestClock`.
 */
const whenReal = <A>(probe: Effect.Effect<Option.Option<A>>, what: string) =>
  Effect.gen(function* () {
    const giveUpAt = Date.now() + 30_000
    while (Date.now() < giveUpAt) {
      const found = yield* probe
      if (Option.isSome(found)) return found.value
      yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
    }
    return yield* Effect.dieMessage(`gave up after 30 s waiting for ${what}`)
  })

/** Waits for the sink's next retry to be scheduled; returns how long until it runs. */
const nextRetryIn = whenReal(
  Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    // Shorter than a day: a retry, not a request's timeout (`timeoutOnTestClock`).
    const retries = Chunk.filter(yield* TestClock.sleeps(), (wake) => wake - now < 86_400_000)
    return Option.map(Chunk.head(retries), (wake) => wake - now)
  }),
  "the sink to schedule a retry"
)

/** Waits until the receiver has had `count` requests. */
const receivedAtLeast = (receiver: WebhookReceiver.WebhookReceiver, count: number) =>
  whenReal(
    Effect.map(receiver.requests, (requests) =>
      requests.length >= count ? Option.some(true) : Option.none()
    ),
    `the receiver to get ${count} requests`
  )

describe("WebhookSink", () => {
  layer(Layer.merge(TestDatabase.layer, NodeHttpClient.layerUndici), {
    timeout: 60_000,
    excludeTestServices: true
  })("against a real local receiver", (it) => {
    it.scoped(
      "posts batches of at most maxBatch with a content-derived idempotency key and the headers",
      () =>
        Effect.gen(function* () {
          const receiver = yield* WebhookReceiver.start
          const sink = yield* sinkFor(receiver.url)
          const report = yield* sink.write(writes)
          expect(report.rejected).toEqual([])
          expect(yield* receiver.documents("orders")).toEqual({
            "1": { id: 1, status: "paid" },
            "2": { id: 2, status: "open" }
          })
          const first = yield* receiver.requests
          expect(first.map((request) => request.body.writes?.length)).toEqual([2, 1])
          expect(first[0]?.headers.authorization).toBe("Bearer secret")
          expect(first[0]?.body.writes?.[0]).toEqual({
            index: "orders",
            id: "1",
            op: "upsert",
            lsn: "0/100",
            document: { id: 1, status: "paid" }
          })
          expect(first[1]?.body.writes?.[0]).toMatchObject({ id: "3", op: "delete", document: null })
          // A redelivery of the same batch carries the same keys; other content gets another key.
          yield* sink.write(writes)
          const again = (yield* receiver.requests).slice(2)
          expect(again.map((request) => request.idempotencyKey)).toEqual(
            first.map((request) => request.idempotencyKey)
          )
          expect(first[0]?.idempotencyKey).toMatch(/^[0-9a-f]{64}$/)
          expect(first[0]?.idempotencyKey).not.toBe(first[1]?.idempotencyKey)
          // An older write never overwrites a newer one at the receiver; the sink sends the latest per id.
          yield* sink.write([
            { index: "orders", id: "1", json: '{"id":1,"status":"newer"}', lsn: lsn("0/300") },
            { index: "orders", id: "1", json: '{"id":1,"status":"older"}', lsn: lsn("0/200") }
          ])
          expect((yield* receiver.requests).at(-1)?.body.writes).toHaveLength(1)
          expect((yield* receiver.documents("orders"))["1"]).toEqual({ id: 1, status: "newer" })
        })
    )

    it.scoped("retries 503, 429 and refused connections with backoff, then gives up as SinkUnavailable", () =>
      Effect.gen(function* () {
        const receiver = yield* WebhookReceiver.start
        const sink = yield* sinkFor(receiver.url)
        yield* receiver.setMode({ _tag: "status", status: 503 })
        const failed = yield* Effect.exit(sink.write(writes.slice(0, 1)))
        expect(Exit.isFailure(failed)).toBe(true)
        expect(String(Exit.isFailure(failed) ? failed.cause : "")).toContain(
          "failed 4 times, last: the receiver answered 503"
        )
        // All four attempts carried the same key.
        const attempts = yield* receiver.requests
        expect(attempts).toHaveLength(4)
        expect(new Set(attempts.map((request) => request.idempotencyKey)).size).toBe(1)

        yield* receiver.setMode({ _tag: "status", status: 429 })
        expect(Exit.isFailure(yield* Effect.exit(sink.write(writes.slice(0, 1))))).toBe(true)
        expect(yield* receiver.requests).toHaveLength(8)

        // Refused connections: retried too; when the receiver comes back in time, the write succeeds.
        yield* receiver.setMode({ _tag: "accept" })
        yield* receiver.refuse
        const refused = yield* Effect.exit(sink.write(writes.slice(0, 1)))
        expect(String(Exit.isFailure(refused) ? refused.cause : "")).toContain("SinkUnavailable")
        expect(yield* receiver.requests).toHaveLength(8)
        yield* receiver.resume
      })
    )

    it.scoped("a receiver that comes back before the attempts run out takes the write", () =>
      Effect.gen(function* () {
        const receiver = yield* WebhookReceiver.start
        const patient = yield* sinkFor(receiver.url, {
          attempts: 20,
          retryDelay: "1 second",
          timeout: timeoutOnTestClock
        })
        yield* receiver.refuse
        const pending = yield* Effect.fork(patient.write(writes.slice(0, 1)))
        // Refused once: the retry is scheduled on the clock; the receiver is back before it runs.
        const waits = yield* nextRetryIn
        yield* receiver.resume
        yield* TestClock.adjust(waits)
        expect(Exit.isSuccess(yield* Fiber.await(pending))).toBe(true)
        expect(Object.keys(yield* receiver.documents("orders"))).toEqual(["1"])
      }).pipe(Effect.provide(TestContext.TestContext))
    )

    it.scoped("waits as long as a 503's or 429's Retry-After asks (seconds or an HTTP date, capped)", () =>
      Effect.gen(function* () {
        const receiver = yield* WebhookReceiver.start
        const sink = yield* sinkFor(receiver.url, {
          attempts: 2,
          retryDelay: "10 millis",
          timeout: timeoutOnTestClock
        })
        const retried = (mode: WebhookReceiver.Mode) =>
          Effect.gen(function* () {
            yield* receiver.setMode(mode)
            const write = yield* Effect.fork(sink.write(writes.slice(0, 1)))
            const waits = yield* nextRetryIn
            yield* receiver.setMode({ _tag: "accept" })
            yield* TestClock.adjust(waits)
            expect(Exit.isSuccess(yield* Fiber.await(write))).toBe(true)
            return waits
          })
        // Delay-seconds on a 503: not the 10 ms backoff, but the 30 s asked for.
        expect(yield* retried({ _tag: "status", status: 503, retryAfter: "30" })).toBe(30_000)
        expect(yield* receiver.requests).toHaveLength(2)
        // An HTTP date on a 429.
        const now = yield* Clock.currentTimeMillis
        const date = new Date(now + 45_000).toUTCString()
        expect(yield* retried({ _tag: "status", status: 429, retryAfter: date })).toBe(45_000)
        // No header, or one that cannot be read: the backoff alone.
        expect(yield* retried({ _tag: "status", status: 503 })).toBeLessThan(1_000)
        expect(yield* retried({ _tag: "status", status: 503, retryAfter: "soon" })).toBeLessThan(1_000)
        // A day is cut to the longest wait honoured.
        expect(yield* retried({ _tag: "status", status: 503, retryAfter: "86400" })).toBe(
          Duration.toMillis(WebhookSink.maxRetryAfter)
        )
        expect(yield* receiver.requests).toHaveLength(10)
      }).pipe(Effect.provide(TestContext.TestContext))
    )

    it.scoped("a receiver that does not answer within the timeout is retried, then SinkUnavailable", () =>
      Effect.gen(function* () {
        const receiver = yield* WebhookReceiver.start
        const sink = yield* sinkFor(receiver.url, { timeout: timeoutOnTestClock, attempts: 2 })
        yield* receiver.setMode({ _tag: "hang" })
        const write = yield* Effect.fork(sink.write(writes.slice(0, 1)))
        // Each request reaches the receiver (real I/O) before its timeout is let run out.
        yield* receivedAtLeast(receiver, 1)
        yield* TestClock.adjust(timeoutOnTestClock)
        yield* TestClock.adjust(yield* nextRetryIn)
        yield* receivedAtLeast(receiver, 2)
        expect(Option.isNone(yield* Fiber.poll(write))).toBe(true)
        yield* TestClock.adjust(timeoutOnTestClock)
        const failed = yield* Effect.flip(Fiber.join(write))
        expect(failed.message).toContain("failed 2 times, last: no answer within the timeout")
        expect(yield* receiver.requests).toHaveLength(2)
      }).pipe(Effect.provide(TestContext.TestContext))
    )

    it.scoped("a 4xx for the whole batch is SinkUnavailable at once, naming the status", () =>
      Effect.gen(function* () {
        const receiver = yield* WebhookReceiver.start
        const sink = yield* sinkFor(receiver.url)
        yield* receiver.setMode({ _tag: "status", status: 400 })
        const failed = yield* Effect.flip(sink.write(writes))
        expect(failed._tag).toBe("SinkUnavailable")
        expect(failed.message).toContain("was refused: the receiver answered 400")
        expect(yield* receiver.requests).toHaveLength(1)
      })
    )

    it.scoped("maps the receiver's rejections back to documents", () =>
      Effect.gen(function* () {
        const receiver = yield* WebhookReceiver.start
        const sink = yield* sinkFor(receiver.url, { maxBatch: 10 })
        yield* receiver.setMode({
          _tag: "reject",
          reject: (write) => (write.id === "2" ? "status must not be open" : undefined)
        })
        const report = yield* sink.write(writes)
        expect(report.rejected).toEqual([
          { index: "orders", id: "2", json: '{"id":2,"status":"open"}', reason: "status must not be open" }
        ])
        expect(Object.keys(yield* receiver.documents("orders"))).toEqual(["1"])
      })
    )

    it.scoped("keeps seeded markers and dead letters in the source database, per sink", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const receiver = yield* WebhookReceiver.start
        const sink = yield* sinkFor(receiver.url)
        const other = yield* sinkFor(receiver.url, { name: "other" })
        yield* sink.ensureIndexes([{ name: "orders", searchable: [] }])
        yield* other.ensureIndexes([{ name: "orders", searchable: [] }])
        expect(yield* sink.isSeeded("orders")).toBe(false)
        yield* sink.markSeeded("orders", lsn("0/500"))
        expect(yield* sink.isSeeded("orders")).toBe(true)
        expect(yield* other.isSeeded("orders")).toBe(false)
        const [marker] = yield* sql<{ readonly lsn: string }>`
          SELECT snapshot_lsn::text AS lsn FROM hook_state._converge_webhook_seeded WHERE sink = 'hooks'`
        expect(marker?.lsn).toBe("0/500")
        yield* sink.clearSeeded("orders")
        expect(yield* sink.isSeeded("orders")).toBe(false)
        yield* sink.storeDeadLetters([{ index: "orders", id: "2", json: "{}", reason: "no" }], lsn("0/600"))
        const letters = yield* sql<{
          readonly sink: string
          readonly documentId: string
          readonly reason: string
        }>`
          SELECT sink, document_id AS "documentId", reason FROM hook_state._converge_webhook_dead_letters`
        expect(letters).toEqual([{ sink: "hooks", documentId: "2", reason: "no" }])
        // Sweep and generations are messages of the wire format.
        yield* sink.sweep("orders", lsn("0/700"))
        yield* sink.beginGeneration({ name: "orders", searchable: [] })
        yield* sink.writeNextGeneration(writes.slice(0, 1))
        yield* sink.swapGeneration("orders", lsn("0/800"))
        expect((yield* receiver.requests).map((request) => request.body.kind)).toEqual([
          "sweep",
          "begin_generation",
          "generation_writes",
          "swap_generation"
        ])
        expect(yield* sink.isSeeded("orders")).toBe(true)
      })
    )
  })
})
