import { EmbeddedPostgres } from "@converge/pg"
import { Effect } from "effect"

Effect.runPromise(
  Effect.scoped(
    Effect.gen(function* () {
      const s = yield* EmbeddedPostgres.make({})
      console.log(s.url)
      yield* Effect.never
    })
  )
)
