import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import { SqlClient } from "@effect/sql"
import { assert, describe, layer } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Ref, Schedule } from "effect"
import { Migrations } from "../src/index.js"
import * as TestPostgres from "./fixtures/TestPostgres.js"

const migrationsDirectory = (files: Readonly<Record<string, string>>) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const directory = await Fs.mkdtemp(Path.join(Os.tmpdir(), "converge-migrations-"))
      await writeFiles(directory, files)
      return directory
    }),
    (directory) => Effect.promise(() => Fs.rm(directory, { recursive: true, force: true }))
  )

const writeFiles = async (directory: string, files: Readonly<Record<string, string>>) => {
  for (const [name, text] of Object.entries(files)) await Fs.writeFile(Path.join(directory, name), text)
}

const addFiles = (directory: string, files: Readonly<Record<string, string>>) =>
  Effect.promise(() => writeFiles(directory, files))

const tableExists = (name: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => sql<{ table: string | null }>`SELECT to_regclass(${name}) AS "table"`
  ).pipe(Effect.map((rows) => rows[0]?.table != null))

const recorded = (app: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      sql<{
        id: number
        name: string
      }>`SELECT migration_id AS id, name FROM ${sql(Migrations.tableName(app))} ORDER BY migration_id`
  )

describe("Migrations", () => {
  // Real Postgres timing: the live clock (no TestClock).
  layer(TestPostgres.layer, { excludeTestServices: true })("on a real server", (it) => {
    it.scoped("applies .sql files once, reruns as a no-op, and later applies only a new file", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const directory = yield* migrationsDirectory({
          "0001_create_items.sql": "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);",
          "0002_seed_items.sql": "INSERT INTO items VALUES (1, 'one');\nINSERT INTO items VALUES (2, 'two');",
          "README.md": "Not a migration."
        })
        const options = { app: "shop", loader: Migrations.fromDirectory(directory) }

        assert.deepStrictEqual(yield* Migrations.run(options), [
          { id: 1, name: "create_items" },
          { id: 2, name: "seed_items" }
        ])
        assert.deepStrictEqual(yield* Migrations.run(options), [])
        assert.deepStrictEqual(yield* sql`SELECT count(*)::int AS count FROM items`, [{ count: 2 }])

        yield* addFiles(directory, {
          "0003_add_price.sql": "ALTER TABLE items ADD COLUMN price int NOT NULL DEFAULT 0;"
        })
        assert.deepStrictEqual(yield* Migrations.run(options), [{ id: 3, name: "add_price" }])
        assert.deepStrictEqual(yield* recorded("shop"), [
          { id: 1, name: "create_items" },
          { id: 2, name: "seed_items" },
          { id: 3, name: "add_price" }
        ])
        assert.deepStrictEqual(yield* sql`SELECT count(*)::int AS count FROM items`, [{ count: 2 }])
      })
    )

    it.scoped("a broken migration rolls back everything of its run, its record included", () =>
      Effect.gen(function* () {
        const directory = yield* migrationsDirectory({
          "0001_create_base.sql": "CREATE TABLE base (id int);"
        })
        const options = { app: "broken", loader: Migrations.fromDirectory(directory) }
        yield* Migrations.run(options)
        yield* addFiles(directory, {
          "0002_create_good.sql": "CREATE TABLE good (id int);",
          "0003_half_done.sql": "CREATE TABLE half (id int);\nINSERT INTO missing VALUES (1);"
        })

        const error = yield* Effect.flip(Migrations.run(options))
        assert.strictEqual(error._tag, "MigrationFailed")
        assert.strictEqual(error.migration, "0003_half_done")
        assert.include(error.message, 'Migration 0003_half_done of app "broken" failed')
        assert.include(error.message, 'relation "missing" does not exist')
        assert.isFalse(yield* tableExists("good"))
        assert.isFalse(yield* tableExists("half"))
        assert.isTrue(yield* tableExists("base"))
        assert.deepStrictEqual(yield* recorded("broken"), [{ id: 1, name: "create_base" }])

        yield* addFiles(directory, { "0003_half_done.sql": "CREATE TABLE half (id int);" })
        assert.deepStrictEqual(yield* Migrations.run(options), [
          { id: 2, name: "create_good" },
          { id: 3, name: "half_done" }
        ])
      })
    )

    it.scoped(
      "two replicas migrating a new database at once: one applies, the other waits, then finds nothing to do",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const started = yield* Deferred.make<void>()
          const release = yield* Deferred.make<void>()
          const runs = yield* Ref.make(0)
          const options = {
            app: "replicated",
            loader: Migrations.fromRecord({
              "0001_create_jobs": "CREATE TABLE jobs (id int PRIMARY KEY)",
              // Holds the first replica inside its migration until the second is seen waiting.
              "0002_slow_backfill": Ref.update(runs, (n) => n + 1).pipe(
                Effect.zipRight(Deferred.succeed(started, undefined)),
                Effect.zipRight(Deferred.await(release))
              )
            })
          }
          const first = yield* Effect.fork(Migrations.run(options))
          yield* Deferred.await(started)
          const second = yield* Effect.fork(Migrations.run(options))
          // Not a sleep: waits until Postgres shows the second session blocked on a lock.
          yield* sql<{ waiting: number }>`
          SELECT count(*)::int AS waiting FROM pg_stat_activity
          WHERE datname = current_database() AND wait_event_type = 'Lock'`.pipe(
            Effect.repeat({ schedule: Schedule.spaced("10 millis"), until: (rows) => rows[0]?.waiting === 1 })
          )
          yield* Deferred.succeed(release, undefined)

          assert.deepStrictEqual(yield* Fiber.join(first), [
            { id: 1, name: "create_jobs" },
            { id: 2, name: "slow_backfill" }
          ])
          assert.deepStrictEqual(yield* Fiber.join(second), [])
          assert.strictEqual(yield* Ref.get(runs), 1)
        })
    )

    it.scoped("fromRecord takes SQL scripts and Effects; Migrations.layer migrates when built", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const loader = Migrations.fromRecord({
          "0002_fill": Effect.flatMap(SqlClient.SqlClient, (sql) => sql`INSERT INTO notes VALUES (1), (2)`),
          "0001_create_notes": "CREATE TABLE notes (id int PRIMARY KEY); COMMENT ON TABLE notes IS 'notes';"
        })
        yield* Layer.build(Migrations.layer({ app: "notes", loader }))
        assert.deepStrictEqual(yield* sql`SELECT id FROM notes ORDER BY id`, [{ id: 1 }, { id: 2 }])
        assert.deepStrictEqual(yield* recorded("notes"), [
          { id: 1, name: "create_notes" },
          { id: 2, name: "fill" }
        ])
      })
    )

    it.scoped("bad input is an error naming what is wrong, and nothing runs", () =>
      Effect.gen(function* () {
        const duplicates = yield* migrationsDirectory({
          "0001_a.sql": "CREATE TABLE dup_a (id int);",
          "0001_b.sql": "CREATE TABLE dup_b (id int);"
        })
        const codeFile = yield* migrationsDirectory({ "0001_backfill.ts": "export default null" })
        const failures = yield* Effect.all(
          [
            Migrations.run({ app: "dups", loader: Migrations.fromDirectory(duplicates) }),
            Migrations.run({ app: "code", loader: Migrations.fromDirectory(codeFile) }),
            Migrations.run({
              app: "missing",
              loader: Migrations.fromDirectory(Path.join(duplicates, "nope"))
            }),
            Migrations.run({ app: "keys", loader: Migrations.fromRecord({ create_things: "SELECT 1" }) }),
            Migrations.run({ app: "Bad Name", loader: Migrations.fromRecord({}) })
          ].map(Effect.flip)
        )
        const messages = failures.map((failure) => failure.message)
        assert.match(messages[0] ?? "", /Migrations "0001_a" and "0001_b" in .* have the same id 1/)
        assert.match(messages[1] ?? "", /0001_backfill\.ts is not a \.sql file/)
        assert.match(messages[2] ?? "", /Cannot read the migrations directory .*nope/)
        assert.include(messages[3], 'Migration "create_things" in the record is not named NNNN_name')
        assert.include(messages[4], 'Invalid app name "Bad Name"')
        assert.isFalse(yield* tableExists("dup_a"))
        assert.isFalse(yield* tableExists("dup_b"))
      })
    )
  })
})
