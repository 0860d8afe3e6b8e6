import { SqlClient, type SqlError } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { eventually } from "./fixtures/live.js"
import { converged, seededShop, startDaemon } from "./fixtures/liveShop.js"
import { configYaml, decode, ordersIndexYaml } from "./fixtures/shop.js"

/**
 * Makes every commit that asks for it (`synchronous_commit = on`) wait for a synchronous standby
 * that never comes: its commit record is flushed, so logical decoding streams it, but the
 * transaction stays invisible to other sessions until the wait is cancelled. Every other session
 * commits locally. Undone when the scope closes.
 */
const commitsWaitForAStandby = Effect.acquireRelease(
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql.unsafe("ALTER SYSTEM SET synchronous_standby_names = 'converge_no_such_standby'")
    yield* sql.unsafe("ALTER SYSTEM SET synchronous_commit = 'local'")
    yield* sql.unsafe("SELECT pg_reload_conf()")
    yield* eventually(
      Effect.filterOrFail(
        sql<{ readonly names: string }>`SELECT current_setting('synchronous_standby_names') AS names`,
        ([row]) => row?.names === "converge_no_such_standby"
      )
    )
  }),
  () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* sql.unsafe("ALTER SYSTEM RESET synchronous_standby_names")
      yield* sql.unsafe("ALTER SYSTEM RESET synchronous_commit")
      yield* sql.unsafe("SELECT pg_reload_conf()")
    }).pipe(Effect.orDie)
)

describe("Live commit visibility", () => {
  layer(seededShop, { timeout: 120_000, excludeTestServices: true })("on the shop", (it) => {
    it.scoped(
      "a transaction streamed before other sessions can see it is built once they can, never read as deleted",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const config = yield* decode(configYaml(ordersIndexYaml, "batch: { max_wait_ms: 5 }"))
          const { events } = yield* startDaemon(config)
          yield* converged(config)
          yield* commitsWaitForAStandby

          // The writer's commit is flushed (and streamed) but waits for the standby, invisible.
          const writer = yield* sql.reserve
          const onWriter = <A extends object>(text: string) =>
            writer.execute(text, [], undefined) as Effect.Effect<ReadonlyArray<A>, SqlError.SqlError>
          const [backend] = yield* onWriter<{ readonly pid: number }>("SELECT pg_backend_pid() AS pid")
          yield* onWriter("SET synchronous_commit = on")
          const insert = yield* Effect.fork(onWriter("INSERT INTO orders VALUES (777, 1, 'late', 7, NULL)"))
          yield* eventually(
            Effect.filterOrFail(
              sql<{ readonly waiting: number }>`
                SELECT count(*)::int AS waiting FROM pg_stat_activity WHERE pid = ${backend?.pid} AND wait_event = 'SyncRep'`,
              ([row]) => row?.waiting === 1
            )
          )

          // The pipeline has the transaction and waits for it, writing nothing of it meanwhile.
          yield* eventually(Effect.filterOrFail(events.has("WaitingForCommits"), (waiting) => waiting))
          expect(yield* sql`SELECT id FROM orders WHERE id = 777`).toEqual([])
          expect(yield* sql`SELECT id FROM search.orders WHERE id = '777'`).toEqual([])

          // Cancelling the wait ends the commit (it is durable locally): now visible, and built.
          yield* sql`SELECT pg_cancel_backend(${backend?.pid})`
          yield* Fiber.await(insert)
          const documents = (yield* converged(config)) as Record<string, { readonly status: string }>
          expect(documents["777"]?.status).toBe("late")
        })
    )
  })
})
