/**
 * One row change as logical decoding reports it: the table, the operation, and the new and old
 * row images with every value in Postgres' text form (`null` for SQL NULL). The old image holds
 * the replica identity columns (every column under `REPLICA IDENTITY FULL`).
 */

/** A row image: column name → text value or null. */
export type Row = Readonly<Record<string, string | null>>

/** A row change in table `table` (`schema.name`). */
export interface RowChange {
  readonly table: string
  readonly operation: "insert" | "update" | "delete"
  /** The row after an insert or update. */
  readonly new: Row | undefined
  /** The row before an update or delete (its identity columns, or all under REPLICA IDENTITY FULL). */
  readonly old: Row | undefined
}

/** The row images a change carries, old first. */
export const images = (change: RowChange): ReadonlyArray<Row> =>
  [change.old, change.new].filter((row): row is Row => row !== undefined)
