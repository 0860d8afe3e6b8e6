/**
 * A retry policy read from configuration, used to retry a flaky call with `Effect.retry`.
 */
import { RetryPolicy } from "@converge/core"
import { Data, Effect, Ref, Schema } from "effect"

// #region decode
/** The policy as it appears in a config file (JSON or YAML): plain data. */
export const configured: unknown = {
  initialDelayMs: 200,
  multiplier: 2,
  maxDelayMs: 5_000,
  maxAttempts: 5,
  jitter: { fraction: 0.2, mode: "full" },
  nonRetryable: ["QuoteRejected"]
}

/** Decoding validates it: a negative delay or an unknown jitter mode is a `ParseError` naming the field. */
export const loadPolicy = Schema.decodeUnknown(RetryPolicy.RetryPolicy)(configured)
// #endregion decode

/** The pricing service is overloaded: retry later. */
export class ServiceBusy extends Data.TaggedError("ServiceBusy")<{ readonly retryAfterMs: number }> {}

/** The request itself is wrong: retrying cannot help. */
export class QuoteRejected extends Data.TaggedError("QuoteRejected")<{ readonly reason: string }> {}

// #region retry
/**
 * Asks for a quote with the configured policy. `respond` plays the pricing service: it gets the
 * attempt number (from 1) and answers or fails. Returns the quote and how many attempts it took.
 */
export const quoteWithRetry = (
  respond: (attempt: number) => Effect.Effect<number, ServiceBusy | QuoteRejected>
) =>
  Effect.gen(function* () {
    const policy = yield* loadPolicy
    const attempts = yield* Ref.make(0)
    const quote = yield* Ref.updateAndGet(attempts, (n) => n + 1).pipe(
      Effect.flatMap(respond),
      Effect.retry(RetryPolicy.toSchedule(policy))
    )
    return { quote, attempts: yield* Ref.get(attempts) }
  })
// #endregion retry

/** The controller preset's first delays, in milliseconds: 5, 10, 20, 40, 80. */
export const controllerDelaysMs = [1, 2, 3, 4, 5].map((attempt) =>
  RetryPolicy.delayMillis(RetryPolicy.controller, attempt)
)
