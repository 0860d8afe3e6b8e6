/**
 * The reverse of the document builder: which documents (root ids) a batch of row changes
 * affects. A table may appear several times in an index (as the root, as a related table at any
 * depth, as a join table); each appearance is a `Site`. A change is resolved through **both** its
 * old and new row images, so a child moved to another parent or deleted also names the old
 * parent — which is why related tables must log the linking column in their old image (checked
 * by validation: `REPLICA IDENTITY FULL`).
 *
 * ```text
 *   change in order_items (old.order_id = 1, new.order_id = 2)
 *     └─ site: orders.items  →  SELECT r0.id FROM orders r0 WHERE r0.id = ANY('{1,2}')  →  {1, 2}
 * ```
 *
 * One query per site per batch, with every linking value of the batch in one array.
 */
import type { SqlError } from "@effect/sql"
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import * as RowChange from "../capture/RowChange.js"
import * as Sql from "../internal/sqlText.js"
import type { Column } from "../schema/Catalog.js"
import type { IndexPlan, PlanNode, PlanRelation } from "../schema/IndexPlan.js"
import { rootAlias } from "./DocumentQuery.js"

/** Where a table appears in an index, and which of its columns leads to the documents. */
export type Site =
  | { readonly kind: "root"; readonly table: string; readonly key: Column }
  | {
      readonly kind: "related"
      readonly table: string
      /** The relations from the root to the node whose `parentColumn` the row's `linkColumn` matches. */
      readonly path: ReadonlyArray<PlanRelation>
      readonly parentColumn: Column
      readonly linkColumn: Column
    }

/** Every site of every table in `plan`. */
export const sites = (plan: IndexPlan): ReadonlyArray<Site> => {
  const found: Array<Site> = [{ kind: "root", table: plan.root.table.display, key: plan.primaryKey }]
  const visit = (node: PlanNode, path: ReadonlyArray<PlanRelation>) => {
    for (const relation of node.relations) {
      found.push({
        kind: "related",
        table: relation.node.table.display,
        path: relation.kind === "many_to_many" ? [...path, relation] : path,
        parentColumn: relation.kind === "many_to_many" ? relation.throughTargetColumn : relation.parentColumn,
        linkColumn: relation.childColumn
      })
      if (relation.kind === "many_to_many") {
        found.push({
          kind: "related",
          table: relation.through.display,
          path,
          parentColumn: relation.parentColumn,
          linkColumn: relation.throughSourceColumn
        })
      }
      visit(relation.node, [...path, relation])
    }
  }
  visit(plan.root, [])
  return found
}

/**
 * The SQL that finds root ids from linking values at a related site: joins from the root down
 * the path, then filters the last node (for a `many_to_many` at the end of the path: its join
 * table) on `parentColumn = ANY($1)`.
 */
export const rootIdsQuery = (plan: IndexPlan, site: Extract<Site, { kind: "related" }>): string => {
  const joins: Array<string> = []
  let alias = rootAlias
  site.path.forEach((relation, i) => {
    const isLast = i === site.path.length - 1
    const parentKey = `${alias}.${Sql.identifier(relation.parentColumn.name)}`
    if (relation.kind === "many_to_many") {
      const through = `t${i + 1}`
      joins.push(
        `JOIN ${relation.through.qualified} ${through} ON ${through}.${Sql.identifier(relation.throughSourceColumn.name)} = ${parentKey}`
      )
      alias = through
      // A site below the join table (the related table itself) filters on the join table's target column.
      if (isLast && site.parentColumn === relation.throughTargetColumn) return
      const child = `a${i + 1}`
      joins.push(
        `JOIN ${relation.node.table.qualified} ${child} ON ${child}.${Sql.identifier(relation.childColumn.name)} = ${through}.${Sql.identifier(relation.throughTargetColumn.name)}`
      )
      alias = child
    } else {
      const child = `a${i + 1}`
      joins.push(
        `JOIN ${relation.node.table.qualified} ${child} ON ${child}.${Sql.identifier(relation.childColumn.name)} = ${parentKey}`
      )
      alias = child
    }
  })
  return [
    `SELECT DISTINCT ${rootAlias}.${Sql.identifier(plan.primaryKey.name)}::text AS id`,
    `FROM ${plan.root.table.qualified} ${rootAlias}`,
    ...joins,
    `WHERE ${alias}.${Sql.identifier(site.parentColumn.name)} = ANY($1::text[]::${site.parentColumn.type}[])`
  ].join("\n")
}

/** Resolves changes to root ids for one index: one query per related site touched by the batch. */
export interface AffectedRoots {
  readonly resolve: (
    changes: ReadonlyArray<RowChange.RowChange>
  ) => Effect.Effect<Set<string>, SqlError.SqlError>
}

/** A resolver for `plan` on the source database. */
export const make = (plan: IndexPlan): Effect.Effect<AffectedRoots, never, SqlClient.SqlClient> =>
  Effect.map(SqlClient.SqlClient, (sql) => {
    const planned = sites(plan).map((site) => ({
      site,
      query: site.kind === "related" ? rootIdsQuery(plan, site) : ""
    }))
    return {
      resolve: (changes) =>
        Effect.gen(function* () {
          const ids = new Set<string>()
          for (const { site, query } of planned) {
            const values = new Set<string>()
            for (const change of changes) {
              if (change.table !== site.table) continue
              for (const row of RowChange.images(change)) {
                const value = row[site.kind === "root" ? site.key.name : site.linkColumn.name]
                if (value !== undefined && value !== null) values.add(value)
              }
            }
            if (values.size === 0) continue
            if (site.kind === "root") {
              for (const value of values) ids.add(value)
              continue
            }
            const rows = yield* sql.unsafe<{ readonly id: string }>(query, [[...values]])
            for (const row of rows) ids.add(row.id)
          }
          return ids
        })
    }
  })
