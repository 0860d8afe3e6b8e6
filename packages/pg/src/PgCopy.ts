/**
 * `COPY … FROM STDIN` on a pooled connection (through `pg-copy-streams`): the bulk load path, several
 * times faster than `INSERT` for many rows. `PgDatabase.layer` provides it next to its `PgClient`,
 * on the same pool. Each `copyFrom` is one statement, so it commits on its own (or fails whole).
 *
 * ```ts
 * const copy = yield* PgCopy.PgCopy
 * yield* copy.copyFrom(
 *   `COPY items (id, name) FROM STDIN`,
 *   rows.map((row) => PgCopy.textRow([row.id, row.name])).join("")
 * )
 * ```
 */
import { finished } from "node:stream/promises"
import { SqlError } from "@effect/sql/SqlError"
import { Context, Effect, Layer } from "effect"
import pg from "pg"
import { from as copyFromStdin } from "pg-copy-streams"

/** Bulk loads with `COPY … FROM STDIN`; `PgDatabase.layer` provides it. */
export class PgCopy extends Context.Tag("@converge/pg/PgCopy")<
  PgCopy,
  {
    /**
     * Runs `statement` (a `COPY … FROM STDIN`, text format) with `data` as its input; returns the
     * rows copied. With `around`, it runs in one transaction on one connection between the
     * `before` and `after` statements (e.g. create a temporary table, copy into it, then upsert
     * from it), all or nothing.
     */
    readonly copyFrom: (statement: string, data: string, around?: Around) => Effect.Effect<number, SqlError>
  }
>() {}

/** Statements run with a `COPY` in its transaction. */
export interface Around {
  readonly before?: ReadonlyArray<string> | undefined
  readonly after?: ReadonlyArray<string> | undefined
}

/** `PgCopy` on connections of `pool`. */
export const fromPool = (pool: pg.Pool): PgCopy["Type"] => ({
  copyFrom: (statement, data, around) =>
    Effect.acquireUseRelease(
      Effect.tryPromise({
        try: () => pool.connect(),
        catch: (cause) => new SqlError({ cause, message: "COPY: no connection" })
      }),
      (client) =>
        Effect.tryPromise({
          try: async (signal) => {
            if (around !== undefined) await client.query("BEGIN")
            for (const before of around?.before ?? []) await client.query(before)
            const stream = client.query(copyFromStdin(statement))
            // Interrupted: end the stream with an error, which aborts the COPY (nothing is written).
            signal.addEventListener("abort", () => stream.destroy(new Error("interrupted")), { once: true })
            stream.end(data)
            await finished(stream)
            for (const after of around?.after ?? []) await client.query(after)
            if (around !== undefined) await client.query("COMMIT")
            return stream.rowCount
          },
          catch: (cause) => new SqlError({ cause, message: `COPY failed: ${String(cause)}` })
        }),
      // A connection whose COPY failed or was cut short is discarded rather than reused (with its
      // transaction, which then never commits).
      (client, exit) => Effect.sync(() => client.release(exit._tag === "Failure" ? true : undefined))
    )
})

/**
 * `PgCopy` on a pool of its own (`size` connections, closed with the layer), for code whose
 * `PgClient` does not come from `PgDatabase.layer` (tests on `PgClient.layer`).
 */
export const layer = (url: string, size = 2): Layer.Layer<PgCopy> =>
  Layer.scoped(
    PgCopy,
    Effect.map(
      Effect.acquireRelease(
        Effect.sync(() => {
          const pool = new pg.Pool({ connectionString: url, max: size })
          // An idle connection that dies is dropped by the pool; without a listener Node would crash.
          pool.on("error", () => undefined)
          return pool
        }),
        (pool) => Effect.promise(() => pool.end())
      ),
      fromPool
    )
  )

/**
 * One row in `COPY`'s text format: tab-separated fields, `\N` for null, and backslash, tab,
 * newline and carriage return escaped.
 */
export const textRow = (fields: ReadonlyArray<string | null>): string =>
  `${fields.map((field) => (field === null ? "\\N" : escapeText(field))).join("\t")}\n`

const special = /[\\\t\n\r]/g
const escapes: Record<string, string> = { "\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r" }
const escapeText = (field: string): string => field.replace(special, (char) => escapes[char] ?? char)
