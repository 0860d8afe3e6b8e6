import { Observer } from "@converge/core"
import { SqlClient } from "@effect/sql"
import { Effect, Layer } from "effect"
import * as Backfill from "../../src/backfill/Backfill.js"
import * as Validation from "../../src/config/Validation.js"
import * as DocumentBuilder from "../../src/documents/DocumentBuilder.js"
import * as BenchServer from "../support/BenchServer.js"
import * as Shapes from "../support/Shapes.js"

const url = process.argv[2]!
Effect.runPromise(
  Effect.scoped(
    Effect.gen(function* () {
      const source = yield* Layer.build(BenchServer.clientLayer(url, 2))
      yield* Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe("DROP TABLE IF EXISTS items CASCADE; DROP PUBLICATION IF EXISTS bench_pub")
        yield* Shapes.prepareSource(Shapes.rootOnly)
        yield* Shapes.write(Shapes.rootOnly, 1, 50000, { _tag: "Bulk", changes: 50_000 })
        console.log(yield* sql.unsafe("SELECT count(*), min(id), max(id) FROM items"))
        const config = yield* Shapes.config(Shapes.rootOnly, "x")
        const v = yield* Validation.validate(config).pipe(Effect.orDie)
        const b = yield* DocumentBuilder.make(v.plans[0]!)
        const ids = Array.from({ length: 1000 }, (_, i) => String(i + 1))
        const built = yield* b.build(ids)
        console.log(built.documents.length, built.gone.slice(0, 5))
        const n = yield* Backfill.run(
          b,
          [
            {
              name: "x",
              write: (w: ReadonlyArray<unknown>) => Effect.succeed({ rejected: [] }),
              storeDeadLetters: () => Effect.void,
              sweep: () => Effect.void,
              flush: Effect.void,
              markSeeded: () => Effect.void
            } as any
          ],
          1n,
          Observer.make((e: any) =>
            Effect.sync(() => {
              if (e._tag !== "BackfillProgress" || e.done % 10000 === 0 || e.done > 39000)
                console.log(JSON.stringify(e))
            })
          )
        )
        console.log("written", n)
      }).pipe(Effect.provide(source))
    })
  )
).catch((e) => {
  console.error(e)
  process.exit(1)
})
