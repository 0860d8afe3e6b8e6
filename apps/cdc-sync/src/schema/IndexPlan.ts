/**
 * An index resolved against the source catalog: every table, column and join known with its SQL
 * type. The document builder and the change resolver work from this plan, never from the raw
 * configuration.
 *
 * ```text
 *   root (orders) ── belongs_to customer: orders.customer_id = customers.id
 *                 ├─ has_many items:      orders.id = order_items.order_id
 *                 └─ many_to_many tags:   orders.id = order_tags.order_id, order_tags.tag_id = tags.id
 * ```
 *
 * Every link is written `parent.parentColumn = child.childColumn` (through the join table for
 * `many_to_many`), whatever side holds the foreign key.
 */
import type { OnError } from "../config/CdcConfig.js"
import type { Column, TableInfo } from "./Catalog.js"

/** A column to sort related rows by. */
export interface Ordering {
  readonly column: Column
  readonly descending: boolean
}

/** A table in the document tree and the columns copied from it. */
export interface PlanNode {
  readonly table: TableInfo
  readonly fields: ReadonlyArray<Column>
  readonly relations: ReadonlyArray<PlanRelation>
}

/** `belongs_to` / `has_one` (an object or null) and `has_many` (an array) on `parent.parentColumn = child.childColumn`. */
export interface DirectRelation {
  readonly kind: "belongs_to" | "has_one" | "has_many"
  readonly name: string
  readonly node: PlanNode
  readonly parentColumn: Column
  readonly childColumn: Column
  readonly orderBy: ReadonlyArray<Ordering>
  readonly limit: number | undefined
}

/** `many_to_many` (an array) on `parent.parentColumn = through.sourceColumn AND through.targetColumn = child.childColumn`. */
export interface ThroughRelation {
  readonly kind: "many_to_many"
  readonly name: string
  readonly node: PlanNode
  readonly parentColumn: Column
  readonly through: TableInfo
  readonly throughSourceColumn: Column
  readonly throughTargetColumn: Column
  readonly childColumn: Column
  readonly orderBy: ReadonlyArray<Ordering>
  readonly limit: number | undefined
}

/** A relation of a node, nested under `name` in its documents. */
export type PlanRelation = DirectRelation | ThroughRelation

/** One index, resolved. */
export interface IndexPlan {
  readonly name: string
  readonly root: PlanNode
  /** The root's primary key: a document's id is its text form. */
  readonly primaryKey: Column
  readonly softDelete: Column | undefined
  /** Dot paths into the document indexed for full-text search. */
  readonly searchable: ReadonlyArray<string>
  readonly onError: OnError
}

/** Every table the plan reads (roots, related and join tables), once each, by display name. */
export const tables = (plan: IndexPlan): ReadonlyArray<TableInfo> => {
  const found = new Map<string, TableInfo>()
  const visit = (node: PlanNode) => {
    found.set(node.table.display, node.table)
    for (const relation of node.relations) {
      if (relation.kind === "many_to_many") found.set(relation.through.display, relation.through)
      visit(relation.node)
    }
  }
  visit(plan.root)
  return [...found.values()]
}
