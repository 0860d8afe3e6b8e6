/**
 * The work queue on its own, with a loop of your own: upload files, retrying a failed upload
 * with backoff up to three attempts, and never uploading the same file twice at once.
 */
import { RetryPolicy, WorkQueue } from "@converge/core"
import { Data, Effect, Either, Option, Ref, type Scope } from "effect"

/** The upload failed; the queue retries it. */
export class UploadFailed extends Data.TaggedError("UploadFailed")<{ readonly file: string }> {}

/** 100 ms doubling, three runs in all, no global rate limit. */
const uploadRetries = new RetryPolicy.RetryPolicy({
  ...RetryPolicy.controller,
  initialDelayMs: 100,
  maxAttempts: 3
})

/** Starts two upload workers in the current scope; `add` queues a file. */
export const start = (
  upload: (file: string) => Effect.Effect<void, UploadFailed>
): Effect.Effect<
  {
    readonly add: (file: string) => Effect.Effect<void>
    readonly awaitIdle: Effect.Effect<void>
    readonly uploaded: Effect.Effect<ReadonlyArray<string>>
    readonly gaveUp: Effect.Effect<ReadonlyArray<string>>
  },
  never,
  Scope.Scope
> =>
  Effect.gen(function* () {
    const queue = yield* WorkQueue.make<string>({
      name: "uploads",
      retryPolicy: uploadRetries,
      rateLimit: false
    })
    const uploaded = yield* Ref.make<ReadonlyArray<string>>([])
    const gaveUp = yield* Ref.make<ReadonlyArray<string>>([])

    // #region worker
    const worker = Effect.gen(function* () {
      const file = yield* queue.take // marks `file` processing: no other worker gets it meanwhile
      const result = yield* Effect.either(upload(file))
      if (Either.isRight(result)) {
        yield* queue.forget(file) // success: the next failure starts from 100 ms again
        yield* Ref.update(uploaded, (files) => [...files, file])
      } else if (Option.isNone(yield* queue.addRateLimited(file))) {
        yield* Ref.update(gaveUp, (files) => [...files, file]) // third failure: not re-added
      }
      yield* queue.done(file) // re-queues `file` if it was added (or retried) while it ran
    })
    // #endregion worker

    yield* Effect.forkScoped(Effect.forever(worker))
    yield* Effect.forkScoped(Effect.forever(worker))
    return {
      add: queue.add,
      awaitIdle: queue.awaitIdle,
      uploaded: Ref.get(uploaded),
      gaveUp: Ref.get(gaveUp)
    }
  })
