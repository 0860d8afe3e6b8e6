/**
 * The one SQL query per index that builds whole nested documents for a set of root ids: a
 * `row_to_json` of a one-row subquery per node (its fields and relations as named columns, so
 * keys keep the configuration's order), a correlated subquery per relation (`json_agg` for
 * arrays, ordered by `order_by` then the child's primary key, cut at `limit`). Postgres does the
 * joining and the JSON; the result is each document's id and its compact JSON text (numbers keep
 * their precision).
 *
 * ```sql
 * SELECT r0."id"::text AS id, (SELECT row_to_json(n1) FROM (SELECT r0."id" AS "id", COALESCE((
 *          SELECT json_agg(s.d ORDER BY s.n) FROM (SELECT (SELECT row_to_json(n2) FROM (…) n2) AS d,
 *            row_number() OVER (ORDER BY a1."position", a1."id") AS n
 *          FROM "public"."order_items" a1 WHERE a1."order_id" = r0."id" …) s), '[]'::json) AS "items") n1)::text AS document
 * FROM "public"."orders" r0 WHERE r0."id" = ANY($1::text[]::integer[]) AND r0."deleted_at" IS NULL
 * ```
 *
 * `row_to_json` over a subquery costs half of `jsonb_build_object` per document (the JSON is
 * written as text once, never built as `jsonb` and printed again), and has no argument limit.
 */
import * as Sql from "../internal/sqlText.js"
import type { IndexPlan, Ordering, PlanNode, PlanRelation } from "../schema/IndexPlan.js"

/** The root alias in every query. */
export const rootAlias = "r0"

/** `$1` is a `text[]` of document ids; returns rows `(id text, document text)` for the roots that exist (and are not soft-deleted). */
export const documentsByIds = (plan: IndexPlan): string => {
  const aliases = aliasCounter()
  const softDelete =
    plan.softDelete === undefined ? "" : ` AND ${rootAlias}.${Sql.identifier(plan.softDelete.name)} IS NULL`
  return [
    `SELECT ${rootAlias}.${Sql.identifier(plan.primaryKey.name)}::text AS id,`,
    `${nodeObject(plan.root, rootAlias, aliases)}::text AS document`,
    `FROM ${plan.root.table.qualified} ${rootAlias}`,
    `WHERE ${rootAlias}.${Sql.identifier(plan.primaryKey.name)} = ANY($1::text[]::${plan.primaryKey.type}[])${softDelete}`
  ].join("\n")
}

/** Unique aliases: `a1`, `a2`… for tables, `n3`… for a node's one-row subquery. */
type Aliases = (prefix: "a" | "n") => string

const aliasCounter = (): Aliases => {
  let next = 0
  return (prefix) => `${prefix}${++next}`
}

const nodeObject = (node: PlanNode, alias: string, aliases: Aliases): string => {
  const columns = [
    ...node.fields.map((field) => `${alias}.${Sql.identifier(field.name)} AS ${Sql.identifier(field.name)}`),
    ...node.relations.map(
      (relation) => `${relationValue(relation, alias, aliases)} AS ${Sql.identifier(relation.name)}`
    )
  ]
  if (columns.length === 0) return "'{}'::json"
  const row = aliases("n")
  return `(SELECT row_to_json(${row}) FROM (SELECT ${columns.join(", ")}) ${row})`
}

const relationValue = (relation: PlanRelation, parentAlias: string, aliases: Aliases): string => {
  const child = aliases("a")
  const parentKey = `${parentAlias}.${Sql.identifier(relation.parentColumn.name)}`
  const childKey = `${child}.${Sql.identifier(relation.childColumn.name)}`
  let from: string
  if (relation.kind === "many_to_many") {
    const through = aliases("a")
    from = [
      `FROM ${relation.through.qualified} ${through}`,
      `JOIN ${relation.node.table.qualified} ${child} ON ${childKey} = ${through}.${Sql.identifier(relation.throughTargetColumn.name)}`,
      `WHERE ${through}.${Sql.identifier(relation.throughSourceColumn.name)} = ${parentKey}`
    ].join(" ")
  } else {
    from = `FROM ${relation.node.table.qualified} ${child} WHERE ${childKey} = ${parentKey}`
  }
  const object = nodeObject(relation.node, child, aliases)
  const order = orderClause(relation.orderBy, relation.node, child)
  if (relation.kind === "belongs_to" || relation.kind === "has_one") {
    return `(SELECT ${object} ${from} ${order} LIMIT 1)`
  }
  const limit = relation.limit === undefined ? "" : ` ${order} LIMIT ${relation.limit}`
  return (
    `COALESCE((SELECT json_agg(s.d ORDER BY s.n) FROM (SELECT ${object} AS d, ` +
    `row_number() OVER (${order}) AS n ${from}${limit}) s), '[]'::json)`
  )
}

// The configured order, then the child's primary key, so that equal sort keys still give one order.
const orderClause = (orderBy: ReadonlyArray<Ordering>, node: PlanNode, alias: string): string => {
  const columns = orderBy.map(
    (ordering) => `${alias}.${Sql.identifier(ordering.column.name)}${ordering.descending ? " DESC" : ""}`
  )
  for (const key of node.table.primaryKey) {
    if (!orderBy.some((ordering) => ordering.column.name === key)) {
      columns.push(`${alias}.${Sql.identifier(key)}`)
    }
  }
  return columns.length === 0 ? "" : `ORDER BY ${columns.join(", ")}`
}
