/**
 * Backfill throughput: documents per second from a snapshot of the source into the postgres
 * sink (`Backfill.run`: pages of root ids in a `REPEATABLE READ` snapshot, one build query per
 * page, the sink's backfill load — a `COPY` per page into a new table, its indexes built at the
 * end, swapped in and marked seeded), for root-only documents and documents with one `has_many`
 * relation (three lines each); side by side with `COPY (SELECT …) TO STDOUT` of the same root rows
 * through `psql` (to /dev/null), the fastest way Postgres hands out those rows (the issue's
 * anchor). Also measured: `COPY` of the documents built by our own query in SQL (what building
 * costs before any sink write), and the **ceiling**, Postgres alone writing those documents into
 * a table of the sink's shape (`psql` pipes, then the indexes): what any program could reach here.
 *
 * The source and the sink are databases of their own on the same server; the tables are written,
 * vacuumed and checkpointed before anything is timed.
 *
 * Each shape runs three rounds (quick: one) on fresh databases and reports the median round by
 * documents/s; the result keeps every round's rate.
 *
 *   node --import tsx --expose-gc bench/cdc-backfill-throughput.ts            1 M documents per shape
 *   node --import tsx --expose-gc bench/cdc-backfill-throughput.ts --quick    50 k documents per shape
 */
import { type Case, isQuick, printTable, type Result, ratioOf, writeResult } from "@converge/bench"
import { Observer } from "@converge/core"
import { SqlClient } from "@effect/sql"
import { Effect, Layer, Logger, LogLevel } from "effect"
import * as Backfill from "../src/backfill/Backfill.js"
import * as Validation from "../src/config/Validation.js"
import * as DocumentBuilder from "../src/documents/DocumentBuilder.js"
import * as Sink from "../src/sinks/Sink.js"
import * as BenchServer from "./support/BenchServer.js"
import * as OurPipeline from "./support/OurPipeline.js"
import * as Shapes from "./support/Shapes.js"

const quick = isQuick()
const documents = quick ? 50_000 : 1_000_000
const goalDocumentsPerSecond = 100_000
const rounds = quick ? 1 : 3

interface BackfillCase extends Case {
  readonly shape: Shapes.Shape["name"]
  readonly documents: number
  readonly oursSeconds: number
  readonly anchorSeconds: number
  /** `COPY` of our document query's output: building in SQL, without a sink. */
  readonly buildInSqlPerSecond: number
  /**
   * Documents/s of the fastest path Postgres itself has into the sink's table: our document query
   * piped by `psql` (`COPY … TO STDOUT | COPY … FROM STDIN`, two streams) into a table of the
   * sink's shape without indexes, then both indexes built side by side. No program in between.
   */
  readonly ceilingPerSecond: number
  /** Ours over the ceiling. */
  readonly ratioToCeiling: number
  /** Time in the load's page writes over our time (summed over pages written at once, so it can pass 1). */
  readonly sinkShare: number
  /** Seconds spent completing the load (the postgres sink: building its indexes, swapping it in). */
  readonly completeSeconds: number
  /** Every round's documents/s, in the order run (the case reports the median round). */
  readonly roundRates?: ReadonlyArray<number>
}

/** Runs `rounds` rounds of a shape and returns its median round, with every round's rate. */
const medianRound = (measureOnce: Effect.Effect<BackfillCase, unknown>) =>
  Effect.gen(function* () {
    const measured: Array<BackfillCase> = []
    for (let round = 0; round < rounds; round++) measured.push(yield* measureOnce)
    const sorted = [...measured].sort((a, b) => a.ours - b.ours)
    const median = sorted[Math.floor(sorted.length / 2)] ?? (yield* Effect.dieMessage("no rounds"))
    return { ...median, roundRates: measured.map((row) => row.ours) }
  })

const copyTimed = (url: string, query: string) =>
  Effect.map(
    BenchServer.timeTool("psql", [
      "--no-psqlrc",
      "--quiet",
      "--dbname",
      url,
      "--command",
      `COPY (${query}) TO STDOUT`
    ]),
    (timed) => timed.seconds
  )

/**
 * Times Postgres alone writing the documents of `query` (over every root id) into a copy of the
 * sink table `index` (columns and generated search column, no indexes): two `psql` pipelines over
 * the even and odd ids, then the unique and GIN indexes built side by side, as the sink does.
 */
const ceilingTimed = (sourceUrl: string, sinkUrl: string, query: string, rootTable: string, index: string) =>
  Effect.gen(function* () {
    const table = `search.${index}_ceiling`
    yield* Effect.scoped(
      Effect.flatMap(Layer.build(BenchServer.clientLayer(sinkUrl, 1)), (context) =>
        Effect.provide(
          Effect.flatMap(SqlClient.SqlClient, (sql) =>
            sql.unsafe(`CREATE TABLE ${table} (LIKE search.${index} INCLUDING GENERATED INCLUDING DEFAULTS)`)
          ),
          context
        )
      )
    )
    const half = (parity: number) =>
      `COPY (SELECT d.id, d.document, '0/1' FROM (${query.replace(
        "$1::text[]",
        `(SELECT array_agg(id::text) FROM ${rootTable} WHERE id % 2 = ${parity})`
      )}) d) TO STDOUT`
    const psql = (url: string, command: string) =>
      `psql --no-psqlrc --quiet --set ON_ERROR_STOP=1 --dbname '${url}' --command "${command.replaceAll('"', '\\"')}"`
    const script = [
      "set -o pipefail",
      `${psql(sourceUrl, half(0))} | ${psql(sinkUrl, `COPY ${table} (id, document, source_lsn) FROM STDIN`)} & first=$!`,
      `${psql(sourceUrl, half(1))} | ${psql(sinkUrl, `COPY ${table} (id, document, source_lsn) FROM STDIN`)} & second=$!`,
      "wait $first || exit 1; wait $second || exit 1",
      `${psql(sinkUrl, `CREATE UNIQUE INDEX ON ${table} (id)`)} & first=$!`,
      `${psql(sinkUrl, `SET maintenance_work_mem = '256MB'; CREATE INDEX ON ${table} USING gin (search)`)} & second=$!`,
      "wait $first || exit 1; wait $second || exit 1"
    ].join("\n")
    const timed = yield* BenchServer.timeTool("bash", ["-c", script])
    return timed.seconds
  })

const measure = (server: BenchServer.BenchServer, shape: Shapes.Shape) =>
  Effect.scoped(
    Effect.gen(function* () {
      const sourceUrl = yield* server.freshDatabase("backfill")
      const sinkUrl = yield* server.freshDatabase("sink")
      const source = yield* Layer.build(BenchServer.clientLayer(sourceUrl, 2))
      const builder = yield* Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        yield* Shapes.prepareSource(shape)
        yield* Shapes.write(shape, 1, documents, { _tag: "Bulk", changes: 50_000 })
        yield* sql.unsafe(`VACUUM ANALYZE ${shape.tables.join(", ")}`)
        // The setup's dirty pages are written out now, not during whichever run comes first.
        yield* sql.unsafe("CHECKPOINT")
        const config = yield* Shapes.config(shape, "bench_unused")
        const validated = yield* Validation.validate(config).pipe(Effect.orDie)
        const plan = validated.plans[0]
        if (plan === undefined) return yield* Effect.dieMessage("the bench configuration has no index")
        return yield* DocumentBuilder.make(plan)
      }).pipe(Effect.provide(source))

      const rootTable = shape.tables[0] ?? shape.index
      // The anchor: the root rows themselves, as fast as Postgres hands them out.
      const anchorSeconds = yield* copyTimed(sourceUrl, `SELECT * FROM ${rootTable}`)
      // Context: our document query over every root id, in SQL, without a sink.
      const buildInSqlSeconds = yield* copyTimed(
        sourceUrl,
        builder.query.replace("$1::text[]", `(SELECT array_agg(id::text) FROM ${rootTable})`)
      )

      const postgres = yield* OurPipeline.postgresSink(sinkUrl, "search")
      // The same sink, timing its backfill load: the pages' writes, and completing (indexes, swap).
      let sinkMillis = 0
      let completeMillis = 0
      const timed = <A, E, R>(effect: Effect.Effect<A, E, R>, add: (millis: number) => void) =>
        Effect.suspend(() => {
          const started = performance.now()
          return Effect.ensuring(
            effect,
            Effect.sync(() => add(performance.now() - started))
          )
        })
      const sink: Sink.Sink = {
        ...postgres,
        openBackfill: (index, lsn) =>
          Effect.map(Sink.openBackfill(postgres, index, lsn), (load) => ({
            write: (writes) => timed(load.write(writes), (millis) => (sinkMillis += millis)),
            complete: timed(load.complete, (millis) => (completeMillis += millis))
          }))
      }
      yield* sink.ensureIndexes([{ name: shape.index, searchable: builder.plan.searchable }])
      const started = performance.now()
      const written = yield* Backfill.run(
        builder,
        [sink],
        1n,
        Observer.make(() => Effect.void)
      ).pipe(Effect.provide(source))
      const oursSeconds = (performance.now() - started) / 1000
      if (written !== documents) {
        return yield* Effect.dieMessage(`the backfill wrote ${written} documents, expected ${documents}`)
      }

      // The ceiling: the same documents into the same table shape by Postgres alone, no program in between.
      const ceilingSeconds = yield* ceilingTimed(sourceUrl, sinkUrl, builder.query, rootTable, shape.index)
      const ceiling = documents / ceilingSeconds

      const ours = documents / oursSeconds
      const anchor = documents / anchorSeconds
      const measured: BackfillCase = {
        name: shape.name,
        shape: shape.name,
        documents,
        ours,
        anchor,
        ratio: ratioOf(ours, anchor, true),
        oursSeconds,
        anchorSeconds,
        buildInSqlPerSecond: documents / buildInSqlSeconds,
        ceilingPerSecond: ceiling,
        ratioToCeiling: ours / ceiling,
        sinkShare: sinkMillis / 1000 / oursSeconds,
        completeSeconds: completeMillis / 1000
      }
      console.error(
        `  ${shape.name}: ours ${ours.toFixed(0)} documents/s (${oursSeconds.toFixed(2)} s, ${(measured.sinkShare * 100).toFixed(0)}% in sink writes, ${measured.completeSeconds.toFixed(2)} s completing), ceiling ${ceiling.toFixed(0)} documents/s (${ceilingSeconds.toFixed(2)} s, ours ${(measured.ratioToCeiling * 100).toFixed(0)}%), COPY ${anchor.toFixed(0)} rows/s (${anchorSeconds.toFixed(2)} s), documents built in SQL ${measured.buildInSqlPerSecond.toFixed(0)}/s`
      )
      return measured
    })
  )

const program = Effect.scoped(
  Effect.gen(function* () {
    const server = yield* BenchServer.make()
    const machine = yield* Effect.scoped(
      Effect.flatMap(server.freshDatabase("probe"), (url) =>
        Effect.provide(BenchServer.probe, BenchServer.clientLayer(url, 1))
      )
    )
    const cases: Array<BackfillCase> = []
    for (const shape of [Shapes.rootOnly, Shapes.hasMany])
      cases.push(yield* medianRound(measure(server, shape)))
    const worst = cases.reduce((a, b) => (b.ratio < a.ratio ? b : a))
    const rootOnly = cases.find((row) => row.shape === "root-only")
    const result: Result = {
      name: "cdc-backfill-throughput",
      metric:
        "documents per second backfilled into the postgres sink (snapshot → build → sink → seeded), worst case",
      unit: "documents/s",
      ours: worst.ours,
      anchor: worst.anchor,
      anchorName: `COPY (SELECT * FROM <root table>) TO STDOUT through psql, same rows, same run (${BenchServer.toolVersion("psql")} against Postgres ${machine.serverVersion})`,
      ratio: worst.ratio,
      higherIsBetter: true,
      worstCase: worst.name,
      goal: `>= ${goalDocumentsPerSecond} documents/s root-only`,
      goalMet: (rootOnly?.ours ?? 0) >= goalDocumentsPerSecond,
      server: server.source,
      machine,
      settings: {
        documents,
        pageSize: "default (Backfill.run)",
        sink: "postgres (a database of its own on the same server)"
      },
      cases,
      quick,
      date: new Date().toISOString()
    }
    printTable(
      ["case", "documents", "ours docs/s", "COPY rows/s", "ratio", "built in SQL docs/s"],
      cases.map((row) => [
        row.name,
        String(row.documents),
        row.ours.toFixed(0),
        row.anchor.toFixed(0),
        row.ratio.toFixed(3),
        row.buildInSqlPerSecond.toFixed(0)
      ])
    )
    console.log(
      `goal: >= ${goalDocumentsPerSecond} documents/s root-only: ${result.goalMet ? "met" : "MISSED"}`
    )
    console.log(`wrote ${writeResult(import.meta.url, result)}`)
  })
)

Effect.runPromise(program.pipe(Logger.withMinimumLogLevel(LogLevel.Warning))).catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
