import { fileURLToPath } from "node:url"
import { CdcStatus } from "@converge/cdc-sync"
import { ProcessHarness, TestDatabase } from "@converge/testing"
import { SqlClient } from "@effect/sql"
import { describe, expect, it, layer } from "@effect/vitest"
import { Chunk, Effect, Option, Schedule, Schema, Stream } from "effect"

const playgroundDir = fileURLToPath(new URL("..", import.meta.url))

describe("playground cdc", () => {
  it.live(
    "--help lists cdc, and cdc --help its options",
    () =>
      Effect.gen(function* () {
        const helpOf = (args: ReadonlyArray<string>) =>
          Effect.gen(function* () {
            const help = yield* ProcessHarness.start({
              command: process.execPath,
              args: ["--import", "tsx", "src/bin.ts", ...args, "--help"],
              cwd: playgroundDir
            })
            const exit = yield* help.exit
            const text = Chunk.toReadonlyArray(yield* Stream.runCollect(help.output))
              .map((line) => line.text)
              .join("\n")
            expect(exit.code, text).toBe(0)
            return text
          }).pipe(Effect.scoped)
        const [root, cdc] = yield* Effect.all([helpOf([]), helpOf(["cdc"])], { concurrency: "unbounded" })
        expect(root).toMatch(/- cdc \[/)
        for (const option of ["--rate", "--query", "--search-every-ms", "--status-port", "--database-url"])
          expect(cdc).toContain(option)
      }),
    120_000
  )

  layer(TestDatabase.layer, { timeout: 240_000, excludeTestServices: true })("on a test database", (it) => {
    it.scoped(
      "cdc: the bookstore is backfilled and kept in sync under the live writer; a book written to the source is found by the printed search",
      () =>
        Effect.gen(function* () {
          const database = yield* TestDatabase.TestDatabase
          const sql = yield* SqlClient.SqlClient
          const cdc = yield* ProcessHarness.start({
            command: process.execPath,
            args: [
              "--import",
              "tsx",
              "src/bin.ts",
              "cdc",
              "--status-port",
              "0",
              "--rate",
              "20",
              "--search-every-ms",
              "300",
              "--query",
              "quasar",
              "--database-url",
              database.url
            ],
            cwd: playgroundDir
          })
          const statusUrl = yield* cdc.output.pipe(
            Stream.filterMap((line) =>
              Option.fromNullable(/^\s+status\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(line.text)?.[1])
            ),
            Stream.runHead,
            Effect.flatten,
            Effect.timeout("90 seconds")
          )
          yield* cdc.awaitReady(`${statusUrl}/readyz`, { timeout: "90 seconds" })
          const searchLine = (pattern: RegExp) =>
            cdc.output.pipe(
              Stream.filter((line) => pattern.test(line.text)),
              Stream.runHead,
              Effect.flatten,
              Effect.timeout("90 seconds")
            )
          // Nothing matches yet, and the writer's changes are being committed.
          yield* searchLine(/^cdc: search "quasar": 0 books \| live · [1-9]\d* changes committed/)

          // A book written straight to the source shows up in the printed search over the sink.
          yield* sql`INSERT INTO books VALUES (100000, 1, 'The Zebra Quasar', 2001, 'A quasar over the harbor.')`
          const found = yield* searchLine(/^cdc: search "quasar": 1 books — "The Zebra Quasar" by /)
          const [author] = yield* sql<{ readonly name: string }>`SELECT name FROM authors WHERE id = 1`
          expect(found.text).toContain(`by ${author?.name}`)

          // The sink table holds every book of the source (the writer adds some, never deletes one).
          const status = yield* Effect.tryPromise(() =>
            fetch(`${statusUrl}/status`).then((response) => response.json())
          ).pipe(Effect.flatMap(Schema.decodeUnknown(CdcStatus.CdcStatus)))
          expect(status).toMatchObject({
            phase: "live",
            indexes: { books: "seeded" },
            errors: 0,
            lastError: null
          })
          expect(status.changesCommitted).toBeGreaterThan(0)
          yield* sql<{ readonly missing: number }>`
            SELECT count(*)::int AS missing FROM books b
            WHERE NOT EXISTS (SELECT 1 FROM search.books s WHERE s.id = b.id::text AND s.document IS NOT NULL)`.pipe(
            Effect.filterOrFail(([row]) => row?.missing === 0),
            Effect.retry(Schedule.spaced("200 millis").pipe(Schedule.upTo("60 seconds")))
          )
          const metrics = yield* Effect.tryPromise(() =>
            fetch(`${statusUrl}/metrics`).then((response) => response.text())
          )
          expect(metrics).toMatch(/^converge_cdc_changes_committed_total [1-9]/m)
          // The 120 seeded books, plus any the writer added before the backfill's snapshot.
          const backfilled = /^converge_cdc_backfill_documents_total\{index="books"\} (\d+)$/m.exec(
            metrics
          )?.[1]
          expect(Number(backfilled)).toBeGreaterThanOrEqual(120)

          const exit = yield* cdc.kill("SIGINT")
          expect(exit.code === 0 || exit.signal === "SIGINT" || exit.code === 130).toBe(true)
        }),
      240_000
    )
  })
})
