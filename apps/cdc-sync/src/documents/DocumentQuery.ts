/**
 * The one SQL query per index that builds whole nested documents for a set of root ids: a
 * `jsonb_build_object` per node, a correlated subquery per relation (`jsonb_agg` for arrays,
 * ordered by `order_by` then the child's primary key, cut at `limit`). Postgres does the joining and
 * the JSON; the result is each document's id and its JSON text (kept as text so numbers keep
 * their precision).
 *
 * ```sql
 * SELECT r0."id"::text AS id, jsonb_build_object('id', r0."id", 'items', COALESCE((
 *          SELECT jsonb_agg(s.d ORDER BY s.n) FROM (SELECT jsonb_build_object(…) AS d,
 *            row_number() OVER (ORDER BY a1."position", a1."id") AS n
 *          FROM "public"."order_items" a1 WHERE a1."order_id" = r0."id" …) s), '[]'::jsonb))::text AS document
 * FROM "public"."orders" r0 WHERE r0."id" = ANY($1::text[]::integer[]) AND r0."deleted_at" IS NULL
 * ```
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

type Aliases = () => string

const aliasCounter = (): Aliases => {
  let next = 0
  return () => `a${++next}`
}

// jsonb_build_object takes at most 100 arguments: 50 key/value pairs per call, joined with ||.
const pairsPerCall = 50

const nodeObject = (node: PlanNode, alias: string, aliases: Aliases): string => {
  const pairs = [
    ...node.fields.map((field) => `${Sql.literal(field.name)}, ${alias}.${Sql.identifier(field.name)}`),
    ...node.relations.map(
      (relation) => `${Sql.literal(relation.name)}, ${relationValue(relation, alias, aliases)}`
    )
  ]
  if (pairs.length === 0) return "'{}'::jsonb"
  const calls: Array<string> = []
  for (let start = 0; start < pairs.length; start += pairsPerCall) {
    calls.push(`jsonb_build_object(${pairs.slice(start, start + pairsPerCall).join(", ")})`)
  }
  return calls.length === 1 ? calls.join("") : `(${calls.join(" || ")})`
}

const relationValue = (relation: PlanRelation, parentAlias: string, aliases: Aliases): string => {
  const child = aliases()
  const parentKey = `${parentAlias}.${Sql.identifier(relation.parentColumn.name)}`
  const childKey = `${child}.${Sql.identifier(relation.childColumn.name)}`
  let from: string
  if (relation.kind === "many_to_many") {
    const through = aliases()
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
    `COALESCE((SELECT jsonb_agg(s.d ORDER BY s.n) FROM (SELECT ${object} AS d, ` +
    `row_number() OVER (${order}) AS n ${from}${limit}) s), '[]'::jsonb)`
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
