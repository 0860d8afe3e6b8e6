/**
 * The document shapes the benchmarks sync, with their source tables, index configuration and
 * workload SQL:
 *
 * - `root-only`: one `items` row per document (1 row change per document);
 * - `has_many`: one `orders` row and three `order_lines` rows per document (4 row changes per
 *   document), the lines in the document as an array.
 *
 * Every root carries `created_at` (`clock_timestamp()` at insert) so latency can be read on the
 * database clock from the sink's `updated_at`.
 */
import type { SqlError } from "@effect/sql"
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import type { CdcConfig } from "../../src/config/CdcConfig.js"
import * as ConfigFile from "../../src/config/ConfigFile.js"

/** One document shape. */
export interface Shape {
  readonly name: "root-only" | "has_many"
  /** The index (and sink table) name. */
  readonly index: string
  /** Row changes written per document. */
  readonly changesPerDocument: number
  /** Creates the source tables. */
  readonly createTables: string
  /** The published tables. */
  readonly tables: ReadonlyArray<string>
  /** The index as a YAML list item at two-space indent. */
  readonly indexYaml: string
  /** Inserts documents `from`..`to` (inclusive) in one transaction. */
  readonly insertDocuments: (from: number, to: number) => string
  /** Inserts documents `from`..`to`, every row in a transaction of its own (a `DO` block that commits). */
  readonly insertDocumentsRowByRow: (from: number, to: number) => string
}

const itemValues = (g: string) => `${g}, 'item ' || ${g}, ${g} % 100, (${g} % 1000) / 10.0`

/** One `items` row per document. */
export const rootOnly: Shape = {
  name: "root-only",
  index: "items",
  changesPerDocument: 1,
  createTables: `CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, qty int NOT NULL,
      price numeric(10,2) NOT NULL, created_at timestamptz NOT NULL DEFAULT clock_timestamp())`,
  tables: ["items"],
  indexYaml: `
  - name: items
    table: items
    fields: [id, name, qty, price, created_at]
    searchable: [name]
`,
  insertDocuments: (from, to) =>
    `INSERT INTO items (id, name, qty, price) SELECT ${itemValues("g")} FROM generate_series(${from}, ${to}) g`,
  insertDocumentsRowByRow: (from, to) =>
    `DO $$ BEGIN PERFORM set_config('synchronous_commit', 'off', false);
       FOR g IN ${from}..${to} LOOP
         INSERT INTO items (id, name, qty, price) VALUES (${itemValues("g")}); COMMIT;
       END LOOP; END $$`
}

/** One `orders` row and three `order_lines` rows per document. */
export const hasMany: Shape = {
  name: "has_many",
  index: "orders",
  changesPerDocument: 4,
  createTables: `CREATE TABLE orders (id bigint PRIMARY KEY, status text NOT NULL, total numeric(10,2) NOT NULL,
      created_at timestamptz NOT NULL DEFAULT clock_timestamp());
    CREATE TABLE order_lines (id bigint PRIMARY KEY, order_id bigint NOT NULL, sku text NOT NULL, qty int NOT NULL);
    CREATE INDEX order_lines_order_id ON order_lines (order_id);
    ALTER TABLE order_lines REPLICA IDENTITY FULL`,
  tables: ["orders", "order_lines"],
  indexYaml: `
  - name: orders
    table: orders
    fields: [id, status, total, created_at]
    searchable: [status, lines.sku]
    relations:
      lines: { kind: has_many, table: order_lines, foreign_key: order_id, fields: [sku, qty] }
`,
  insertDocuments: (from, to) =>
    `INSERT INTO orders (id, status, total) SELECT g, 'open', (g % 1000) / 10.0 FROM generate_series(${from}, ${to}) g;
     INSERT INTO order_lines (id, order_id, sku, qty)
       SELECT g * 3 + l, g, 'sku-' || (g % 97) || '-' || l, l + 1 FROM generate_series(${from}, ${to}) g, generate_series(0, 2) l`,
  insertDocumentsRowByRow: (from, to) =>
    `DO $$ BEGIN PERFORM set_config('synchronous_commit', 'off', false);
       FOR g IN ${from}..${to} LOOP
         INSERT INTO orders (id, status, total) VALUES (g, 'open', (g % 1000) / 10.0); COMMIT;
         FOR l IN 0..2 LOOP
           INSERT INTO order_lines (id, order_id, sku, qty) VALUES (g * 3 + l, g, 'sku-' || (g % 97) || '-' || l, l + 1);
           COMMIT;
         END LOOP;
       END LOOP; END $$`
}

/** The publication every benchmark streams from. */
export const publication = "bench_pub"

/** Creates the shape's tables and the publication over them. */
export const prepareSource = (shape: Shape): Effect.Effect<void, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql.unsafe(shape.createTables)
    yield* sql.unsafe(`CREATE PUBLICATION ${publication} FOR TABLE ${shape.tables.join(", ")}`)
  })

/** The configuration syncing `shape` from `slot`, with `extra` YAML at the top level. */
export const config = (shape: Shape, slot: string, extra = ""): Effect.Effect<CdcConfig> =>
  ConfigFile.parse(
    "bench.yaml",
    `
source:
  slot: ${slot}
  publication: ${publication}
${extra}
indexes:
${shape.indexYaml}
`
  ).pipe(Effect.orDie)

/** How the workload commits: transactions of about `changes` row changes, or one row per transaction. */
export type Commits = { readonly _tag: "Bulk"; readonly changes: number } | { readonly _tag: "RowByRow" }

/** Writes documents `first`..`first + documents - 1` of `shape`, committed as `commits` says. */
export const write = (
  shape: Shape,
  first: number,
  documents: number,
  commits: Commits
): Effect.Effect<void, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const last = first + documents - 1
    // Row by row: a few DO blocks, so that no single statement runs for long.
    const step =
      commits._tag === "Bulk" ? Math.max(1, Math.floor(commits.changes / shape.changesPerDocument)) : 5_000
    for (let from = first; from <= last; from += step) {
      const to = Math.min(last, from + step - 1)
      yield* sql.unsafe(
        commits._tag === "Bulk" ? shape.insertDocuments(from, to) : shape.insertDocumentsRowByRow(from, to)
      )
    }
  })
