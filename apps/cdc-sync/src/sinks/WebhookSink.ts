/**
 * The `webhook` sink: batches of document writes POSTed as JSON to one URL, with an idempotency
 * key, retries with backoff for transient failures, and per-document rejections in the answer.
 *
 * Wire format (every request is `POST <url>`, `content-type: application/json`, plus the
 * configured headers and `Idempotency-Key`):
 *
 * ```text
 *   { "sink": "hooks", "kind": "writes", "writes": [
 *       { "index": "orders", "id": "100", "op": "upsert", "lsn": "0/16B3748", "document": { … } },
 *       { "index": "orders", "id": "101", "op": "delete", "lsn": "0/16B3748", "document": null } ] }
 *   { "sink": "hooks", "kind": "generation_writes", "writes": [ … ] }   reindex backfill: next generation only
 *   { "sink": "hooks", "kind": "begin_generation", "index": "orders" }
 *   { "sink": "hooks", "kind": "swap_generation", "index": "orders", "lsn": "0/16B3748" }
 *   { "sink": "hooks", "kind": "sweep", "index": "orders", "before_lsn": "0/16B3748" }
 * ```
 *
 * - `writes` apply to every generation the receiver keeps; an upsert or delete with an older
 *   `lsn` than the stored one must be ignored (redeliveries and backfills race live changes).
 *   A receiver without generations treats `generation_writes` like `writes` and may ignore
 *   `begin_generation` / `swap_generation`; `sweep` asks it to delete the documents of `index`
 *   last written before `before_lsn` (roots gone while the index was stale).
 * - `Idempotency-Key` is the SHA-256 (hex) of the body, so a retried or redelivered batch with
 *   the same content carries the same key.
 * - Answer 2xx (any body) when everything was taken, or 2xx with
 *   `{ "rejected": [{ "index": <position in writes>, "id": "100", "reason": "…" }] }` to refuse
 *   single documents (they follow the index's `on_error`).
 * - Connection refused, timeouts, 5xx and 429 are retried with exponential backoff up to
 *   `attempts` times, then reported `SinkUnavailable` (the pipeline retries further and
 *   acknowledges nothing); any other status (4xx) is `SinkUnavailable` at once, naming it. A
 *   `Retry-After` on a 429 or 5xx (seconds or an HTTP date) makes the next attempt wait at least
 *   that long, up to `maxRetryAfter`.
 *
 * A 2xx answer means the receiver made the writes durable, so `flush` has nothing left to do.
 * The receiver keeps no state the sync can read back, so seeded markers and dead letters live in
 * the source database, schema `state_schema` (default `converge_cdc`): tables
 * `_converge_webhook_seeded (sink, index, snapshot_lsn)` and `_converge_webhook_dead_letters`.
 */

import { createHash } from "node:crypto"
import { HttpClient, HttpClientRequest } from "@effect/platform"
import type { SqlError } from "@effect/sql"
import { SqlClient } from "@effect/sql"
import { Clock, Data, Duration, Effect, Schedule, Schema } from "effect"
import * as Lsn from "../capture/Lsn.js"
import * as Sql from "../internal/sqlText.js"
import type { DocumentWrite, Rejection, Sink, WriteReport } from "./Sink.js"
import { latestPerDocument, SinkUnavailable } from "./Sink.js"

/** Where and how the sink posts. */
export interface Options {
  /** The sink's name in the configuration. */
  readonly name: string
  readonly url: string
  /** Extra request headers (e.g. `authorization`). */
  readonly headers?: Readonly<Record<string, string>> | undefined
  /** Longest wait for one answer. */
  readonly timeout: Duration.DurationInput
  /** Most writes per request. */
  readonly maxBatch: number
  /** Attempts per request before `SinkUnavailable` (1: no retry). */
  readonly attempts: number
  /** First retry delay; doubles (with jitter) on each further attempt. */
  readonly retryDelay: Duration.DurationInput
  /** Schema in the source database for seeded markers and dead letters. */
  readonly stateSchema: string
}

/** The answer of a receiver that refuses some documents. */
const Answer = Schema.Struct({
  rejected: Schema.optionalWith(
    Schema.Array(Schema.Struct({ index: Schema.Int, id: Schema.String, reason: Schema.String })),
    { default: () => [] }
  )
})

/** The longest `Retry-After` honoured: a receiver asking for more is retried after this. */
export const maxRetryAfter = Duration.minutes(10)

/** One failed attempt; `transient` ones are retried, not before `retryAfter` when the receiver said so. */
class AttemptFailed extends Data.TaggedError("AttemptFailed")<{
  readonly transient: boolean
  readonly message: string
  readonly retryAfter?: Duration.Duration | undefined
  readonly cause?: unknown
}> {}

/**
 * How long a `Retry-After` header asks to wait at `now` (epoch millis): delay-seconds or an HTTP
 * date, at most `maxRetryAfter`; undefined when absent or unreadable.
 */
export const retryAfterOf = (header: string | undefined, now: number): Duration.Duration | undefined => {
  if (header === undefined) return undefined
  const text = header.trim()
  const millis = /^\d+$/.test(text) ? Number(text) * 1000 : Date.parse(text) - now
  if (Number.isNaN(millis)) return undefined
  return Duration.min(Duration.millis(Math.max(millis, 0)), maxRetryAfter)
}

/** The JSON shape of one write on the wire. */
export const wireWrite = (write: DocumentWrite) => ({
  index: write.index,
  id: write.id,
  op: write.json === null ? "delete" : "upsert",
  lsn: Lsn.format(write.lsn),
  document: write.json === null ? null : JSON.parse(write.json)
})

/** The idempotency key of a request body: its SHA-256 in hex. */
export const idempotencyKey = (body: string): string => createHash("sha256").update(body).digest("hex")

/** The sink, posting with the `HttpClient` and keeping its state through the `SqlClient` in context. */
export const make = (
  options: Options
): Effect.Effect<Sink, never, HttpClient.HttpClient | SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const client = yield* HttpClient.HttpClient
    const markers = Sql.qualified(options.stateSchema, "_converge_webhook_seeded")
    const deadLetters = Sql.qualified(options.stateSchema, "_converge_webhook_dead_letters")
    const unavailable = (what: string) => (cause: SqlError.SqlError) =>
      new SinkUnavailable({
        sink: options.name,
        message: `webhook sink "${options.name}": ${what} in schema "${options.stateSchema}" of the source database failed: ${cause.message}`,
        cause
      })
    const retry = Schedule.exponential(options.retryDelay, 2).pipe(
      Schedule.jittered,
      Schedule.intersect(Schedule.recurs(Math.max(options.attempts - 1, 0))),
      // The failed attempt, so that its Retry-After can stretch the delay.
      Schedule.intersect(Schedule.identity<AttemptFailed>()),
      Schedule.modifyDelay(([, failed], delay) =>
        failed.retryAfter === undefined ? delay : Duration.max(delay, failed.retryAfter)
      )
    )

    /** One POST with its retries; the answer's text on 2xx. */
    const post = (payload: object): Effect.Effect<string, SinkUnavailable> => {
      const body = JSON.stringify({ sink: options.name, ...payload })
      const request = HttpClientRequest.post(options.url).pipe(
        HttpClientRequest.setHeaders(options.headers ?? {}),
        HttpClientRequest.setHeader("idempotency-key", idempotencyKey(body)),
        HttpClientRequest.bodyText(body, "application/json")
      )
      const attempt = client.execute(request).pipe(
        Effect.mapError((cause) => new AttemptFailed({ transient: true, message: cause.message, cause })),
        Effect.flatMap((response) => {
          const status = response.status
          if (status >= 200 && status < 300) return Effect.orElseSucceed(response.text, () => "")
          const transient = status >= 500 || status === 429
          return Effect.flatMap(
            Effect.all([Effect.orElseSucceed(response.text, () => ""), Clock.currentTimeMillis]),
            ([text, now]) => {
              const retryAfter = transient ? retryAfterOf(response.headers["retry-after"], now) : undefined
              return Effect.fail(
                new AttemptFailed({
                  transient,
                  retryAfter,
                  message: `the receiver answered ${status}${retryAfter === undefined ? "" : ` (Retry-After ${Duration.format(retryAfter)})`}${text === "" ? "" : `: ${text.slice(0, 200)}`}`
                })
              )
            }
          )
        }),
        Effect.scoped,
        Effect.timeoutFail({
          duration: options.timeout,
          onTimeout: () => new AttemptFailed({ transient: true, message: "no answer within the timeout" })
        })
      )
      return attempt.pipe(
        Effect.retry({ schedule: retry, while: (error) => error.transient }),
        Effect.mapError(
          (error) =>
            new SinkUnavailable({
              sink: options.name,
              message: error.transient
                ? `webhook sink "${options.name}": POST ${options.url} failed ${options.attempts} times, last: ${error.message}`
                : `webhook sink "${options.name}": POST ${options.url} was refused: ${error.message} (check the URL, the headers and the receiver's wire format)`,
              cause: error
            })
        )
      )
    }

    const rejectionsOf = (
      batch: ReadonlyArray<DocumentWrite>,
      answer: string
    ): Effect.Effect<ReadonlyArray<Rejection>, SinkUnavailable> => {
      if (answer.trim() === "") return Effect.succeed([])
      return Schema.decodeUnknown(Schema.parseJson(Answer))(answer).pipe(
        Effect.orElseSucceed(() => ({ rejected: [] })),
        Effect.flatMap(({ rejected }) =>
          Effect.forEach(rejected, (rejection) => {
            const write = batch[rejection.index]
            return write !== undefined && write.id === rejection.id
              ? Effect.succeed({
                  index: write.index,
                  id: write.id,
                  json: write.json,
                  reason: rejection.reason
                })
              : Effect.fail(
                  new SinkUnavailable({
                    sink: options.name,
                    message: `webhook sink "${options.name}": the receiver rejected write ${rejection.index} as id "${rejection.id}", which is not in the batch (its "index" must be the position in "writes")`
                  })
                )
          })
        )
      )
    }

    const send =
      (kind: "writes" | "generation_writes") =>
      (writes: ReadonlyArray<DocumentWrite>): Effect.Effect<WriteReport, SinkUnavailable> => {
        const latest = latestPerDocument(writes)
        const batches: Array<ReadonlyArray<DocumentWrite>> = []
        for (let start = 0; start < latest.length; start += options.maxBatch) {
          batches.push(latest.slice(start, start + options.maxBatch))
        }
        return Effect.forEach(batches, (batch) =>
          Effect.flatMap(post({ kind, writes: batch.map(wireWrite) }), (answer) =>
            rejectionsOf(batch, answer)
          )
        ).pipe(Effect.map((rejected) => ({ rejected: rejected.flat() })))
      }

    const sink: Sink = {
      name: options.name,
      ensureIndexes: () =>
        Effect.gen(function* () {
          yield* sql.unsafe(`CREATE SCHEMA IF NOT EXISTS ${Sql.identifier(options.stateSchema)}`)
          yield* sql.unsafe(`CREATE TABLE IF NOT EXISTS ${markers} (sink text NOT NULL, index text NOT NULL,
              snapshot_lsn pg_lsn NOT NULL, seeded_at timestamptz NOT NULL, PRIMARY KEY (sink, index))`)
          yield* sql.unsafe(`CREATE TABLE IF NOT EXISTS ${deadLetters} (id bigserial PRIMARY KEY, sink text NOT NULL,
              index text NOT NULL, document_id text NOT NULL, document text, reason text NOT NULL,
              source_lsn pg_lsn NOT NULL, stored_at timestamptz NOT NULL DEFAULT now())`)
        }).pipe(Effect.mapError(unavailable("preparing the state tables"))),
      write: send("writes"),
      storeDeadLetters: (rejections, lsn) =>
        rejections.length === 0
          ? Effect.void
          : sql
              .unsafe(
                `INSERT INTO ${deadLetters} (sink, index, document_id, document, reason, source_lsn)
                 SELECT $1, r.index, r.id, r.document, r.reason, $6::pg_lsn
                 FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) AS r(index, id, document, reason)`,
                [
                  options.name,
                  rejections.map((r) => r.index),
                  rejections.map((r) => r.id),
                  rejections.map((r) => r.json),
                  rejections.map((r) => r.reason),
                  Lsn.format(lsn)
                ]
              )
              .pipe(Effect.asVoid, Effect.mapError(unavailable("storing dead letters"))),
      flush: Effect.void,
      isSeeded: (index) =>
        sql
          .unsafe<{ readonly index: string }>(`SELECT index FROM ${markers} WHERE sink = $1 AND index = $2`, [
            options.name,
            index
          ])
          .pipe(
            Effect.map((rows) => rows.length > 0),
            Effect.mapError(unavailable("reading the seeded markers"))
          ),
      markSeeded: (index, lsn) =>
        sql
          .unsafe(
            `INSERT INTO ${markers} (sink, index, snapshot_lsn, seeded_at) VALUES ($1, $2, $3::pg_lsn, now())
             ON CONFLICT (sink, index) DO UPDATE SET snapshot_lsn = EXCLUDED.snapshot_lsn, seeded_at = EXCLUDED.seeded_at`,
            [options.name, index, Lsn.format(lsn)]
          )
          .pipe(Effect.asVoid, Effect.mapError(unavailable("marking the index seeded"))),
      clearSeeded: (index) =>
        sql
          .unsafe(`DELETE FROM ${markers} WHERE sink = $1 AND index = $2`, [options.name, index])
          .pipe(Effect.asVoid, Effect.mapError(unavailable("clearing the seeded marker"))),
      sweep: (index, lsn) => Effect.asVoid(post({ kind: "sweep", index, before_lsn: Lsn.format(lsn) })),
      beginGeneration: (index) => Effect.asVoid(post({ kind: "begin_generation", index: index.name })),
      writeNextGeneration: send("generation_writes"),
      swapGeneration: (index, lsn) =>
        Effect.zipRight(
          post({ kind: "swap_generation", index, lsn: Lsn.format(lsn) }),
          sink.markSeeded(index, lsn)
        )
    }
    return sink
  })
