/**
 * Per-app schema migrations on `@effect/sql`'s migrator: each app records what it applied in a
 * table of its own, `converge_migrations_<app>`, so several apps can share one database.
 *
 * ```text
 *   run({ app, loader })
 *     BEGIN
 *       pg_advisory_xact_lock(<migrations>, hash(table))   ◀── a second replica waits here
 *       CREATE TABLE IF NOT EXISTS converge_migrations_<app>
 *       Migrator: pending = loaded ids above the latest recorded; record them; run each in order
 *     COMMIT  (or ROLLBACK of everything this run did, the records included)
 * ```
 *
 * Migrations are files `NNNN_name.sql` in a directory (`fromDirectory`), or SQL strings and
 * Effects in code (`fromRecord`); any `@effect/sql` `Migrator.Loader` works too. Ids must only
 * grow: a migration whose id is at or below the latest applied one is never run.
 */
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import * as Url from "node:url"
import type { SqlError } from "@effect/sql"
import { SqlClient } from "@effect/sql"
import * as Migrator from "@effect/sql/Migrator"
import { Data, Effect, Layer, Option } from "effect"
import { errorText } from "./internal/errorText.js"
import * as SqlState from "./SqlState.js"

/** What to migrate. */
export interface Options<R = never> {
  /** The app's name (1–43 lowercase letters, digits, `_`): its table is `converge_migrations_<app>`. */
  readonly app: string
  /** Where the migrations come from: `fromDirectory`, `fromRecord` or any `Migrator.Loader`. */
  readonly loader: Migrator.Loader<R>
}

/** A migration this run applied. */
export interface Applied {
  readonly id: number
  readonly name: string
}

/** Migrating failed; nothing of this run was applied. `migration` names the one that failed, if one did. */
export class MigrationFailed extends Data.TaggedError("MigrationFailed")<{
  readonly app: string
  /** `NNNN_name` of the failing migration, when a migration itself failed. */
  readonly migration: string | undefined
  readonly message: string
  readonly cause?: unknown
}> {}

/** The table recording the migrations of `app`. */
export const tableName = (app: string): string => `converge_migrations_${app}`

// Postgres truncates identifiers past 63 bytes; the table name's prefix takes 20 of them.
const appNamePattern = /^[a-z0-9_]{1,43}$/
const migrationKeyPattern = /^(\d+)_(.+)$/
const sqlFilePattern = /^(\d+)_(.+)\.sql$/
// The two-key form of advisory locks is a lock space apart from the one-key (bigint) form.
const lockSpace = "converge_migrations"

/**
 * Applies the pending migrations of `options.app`, all in one transaction, and returns them
 * in order (empty when there were none). Safe to call from several replicas at once: they take
 * turns, and the later ones find nothing to do. On failure everything this run did is rolled
 * back, including the records of migrations that had succeeded before the failing one.
 */
export const run = <R = never>(
  options: Options<R>
): Effect.Effect<ReadonlyArray<Applied>, MigrationFailed, SqlClient.SqlClient | R> =>
  Effect.gen(function* () {
    const { app } = options
    if (!appNamePattern.test(app)) {
      return yield* new MigrationFailed({
        app,
        migration: undefined,
        message: `Invalid app name "${app}" for migrations: use 1 to 43 lowercase letters, digits and "_"`
      })
    }
    const sql = yield* SqlClient.SqlClient
    const table = tableName(app)
    const migrate = Migrator.make({})({ loader: options.loader, table })
    const applied = yield* sql
      .withTransaction(
        Effect.gen(function* () {
          yield* sql`SELECT pg_advisory_xact_lock(hashtext(${lockSpace}), hashtext(${table}))`
          // Created here, inside the lock, so that replicas starting on a new database do not race to create it.
          yield* sql`CREATE TABLE IF NOT EXISTS ${sql(table)} (
            migration_id integer PRIMARY KEY,
            created_at timestamp with time zone NOT NULL DEFAULT now(),
            name text NOT NULL
          )`
          return yield* migrate
        })
      )
      .pipe(
        // The migrator reports a failing migration as a defect: a MigrationError whose cause is
        // the migration's error.
        Effect.catchSomeDefect((defect) =>
          defect instanceof Migrator.MigrationError ? Option.some(Effect.fail(defect)) : Option.none()
        ),
        Effect.mapError((error) => toMigrationFailed(app, error)),
        Effect.map((rows) => rows.map(([id, name]): Applied => ({ id, name })))
      )
    if (applied.length > 0) {
      yield* Effect.logInfo("Applied migrations").pipe(
        Effect.annotateLogs({ app, migrations: applied.map(migrationName) })
      )
    }
    return applied
  })

/** A layer that runs the migrations when built (e.g. at app start), failing the app if they fail. */
export const layer = <R = never>(
  options: Options<R>
): Layer.Layer<never, MigrationFailed, SqlClient.SqlClient | R> => Layer.effectDiscard(run(options))

/**
 * Loads `NNNN_name.sql` files from `directory` (a path or a `file:` URL, e.g.
 * `new URL("../migrations", import.meta.url)`), ordered by id. Each file runs as one script, so
 * it may hold several statements (but no `BEGIN` / `COMMIT`: the run's transaction is the one).
 * Other files are ignored, but a file that looks like a migration (`NNNN_…`) without the `.sql`
 * extension is an error rather than silently skipped.
 */
export const fromDirectory = (directory: string | URL): Migrator.Loader =>
  Effect.gen(function* () {
    const path = typeof directory === "string" ? Path.resolve(directory) : Url.fileURLToPath(directory)
    const files = yield* Effect.tryPromise({
      try: () => Fs.readdir(path),
      catch: (cause) => loadError(`Cannot read the migrations directory ${path}: ${errorText(cause)}`)
    })
    const entries: Array<readonly [key: string, sql: string]> = []
    for (const file of [...files].sort()) {
      const match = sqlFilePattern.exec(file)
      if (match === null) {
        if (migrationKeyPattern.test(file)) {
          return yield* loadError(
            `Migration file ${Path.join(path, file)} is not a .sql file: a migrations directory holds NNNN_name.sql files; put code migrations in Migrations.fromRecord`
          )
        }
        continue
      }
      const text = yield* Effect.tryPromise({
        try: () => Fs.readFile(Path.join(path, file), "utf8"),
        catch: (cause) => loadError(`Cannot read migration ${Path.join(path, file)}: ${errorText(cause)}`)
      })
      entries.push([`${match[1]}_${match[2]}`, text])
    }
    return yield* resolve(entries, `in ${path}`)
  })

/**
 * Migrations written in code: keys `NNNN_name`, values an SQL script (run as is, several
 * statements allowed) or an Effect using `SqlClient` (e.g. a data migration).
 */
export const fromRecord = (
  migrations: Readonly<Record<string, string | Effect.Effect<unknown, unknown, SqlClient.SqlClient>>>
): Migrator.Loader => resolve(Object.entries(migrations), "in the record")

const resolve = (
  entries: ReadonlyArray<
    readonly [key: string, migration: string | Effect.Effect<unknown, unknown, SqlClient.SqlClient>]
  >,
  where: string
): Effect.Effect<ReadonlyArray<Migrator.ResolvedMigration>, Migrator.MigrationError> =>
  Effect.gen(function* () {
    const byId = new Map<number, string>()
    const resolved: Array<Migrator.ResolvedMigration> = []
    for (const [key, migration] of entries) {
      const match = migrationKeyPattern.exec(key)
      if (match === null || match[1] === undefined || match[2] === undefined) {
        return yield* loadError(
          `Migration "${key}" ${where} is not named NNNN_name (e.g. 0001_create_orders)`
        )
      }
      const id = Number(match[1])
      const other = byId.get(id)
      if (other !== undefined) {
        return yield* loadError(`Migrations "${other}" and "${key}" ${where} have the same id ${id}`)
      }
      byId.set(id, key)
      const effect = typeof migration === "string" ? runScript(migration) : migration
      resolved.push([id, match[2], Effect.succeed(effect)])
    }
    return resolved.sort(([a], [b]) => a - b)
  })

const runScript = (script: string): Effect.Effect<void, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(script)).pipe(Effect.asVoid)

const loadError = (message: string) => new Migrator.MigrationError({ reason: "import-error", message })

const migrationName = ({ id, name }: Applied): string => `${String(id).padStart(4, "0")}_${name}`

const toMigrationFailed = (
  app: string,
  error: Migrator.MigrationError | SqlError.SqlError
): MigrationFailed => {
  if (error instanceof Migrator.MigrationError) {
    const failing = /^Migration "(\d+)_(.+)" failed$/.exec(error.message)
    if (error.reason === "failed" && failing !== null) {
      const migration = migrationName({ id: Number(failing[1]), name: failing[2] ?? "" })
      return new MigrationFailed({
        app,
        migration,
        message: `Migration ${migration} of app "${app}" failed, so none of this run's migrations were applied: ${SqlState.classify(error.cause).message}`,
        cause: error.cause
      })
    }
    return new MigrationFailed({
      app,
      migration: undefined,
      message: `Cannot migrate app "${app}": ${error.message}`,
      cause: error
    })
  }
  return new MigrationFailed({
    app,
    migration: undefined,
    message: `Cannot migrate app "${app}": ${SqlState.classify(error).message}`,
    cause: error
  })
}
