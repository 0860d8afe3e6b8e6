/**
 * Resolves a configured index against the source catalog into an `IndexPlan`, collecting every
 * problem on the way (unknown table or column, missing primary key, a relation whose columns do not
 * exist or cannot be compared, an old row image that would not say which parent a change left).
 * Reads the catalog only.
 */
import type { SqlError } from "@effect/sql"
import { SqlClient } from "@effect/sql"
import { Effect, Option } from "effect"
import type * as CdcConfig from "../config/CdcConfig.js"
import * as Problem from "../config/Problem.js"
import * as Catalog from "./Catalog.js"
import type { IndexPlan, Ordering, PlanNode, PlanRelation } from "./IndexPlan.js"

type Lookup = (tableName: string) => Effect.Effect<Option.Option<Catalog.TableInfo>, SqlError.SqlError>

/** Reads tables once each. */
export const cachedLookup: Effect.Effect<Lookup, never, SqlClient.SqlClient> = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const cache = new Map<string, Option.Option<Catalog.TableInfo>>()
  return (tableName: string) => {
    const cached = cache.get(tableName)
    if (cached !== undefined) return Effect.succeed(cached)
    return Catalog.readTable(tableName).pipe(
      Effect.tap((table) => Effect.sync(() => cache.set(tableName, table))),
      Effect.provideService(SqlClient.SqlClient, sql)
    )
  }
})

/**
 * Resolves `index` (at `at`, e.g. `indexes.0`); problems are appended to `problems`, and the
 * plan is `None` when any was found.
 */
export const resolveIndex = (
  index: CdcConfig.Index,
  at: string,
  defaultOnError: CdcConfig.OnError,
  lookup: Lookup,
  problems: Array<Problem.Problem>
): Effect.Effect<Option.Option<IndexPlan>, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const before = problems.length
    const add = (where: string, problem: string, fix: string) =>
      problems.push(Problem.make(where, problem, fix))
    const sql = yield* SqlClient.SqlClient

    const table = (where: string, tableName: string) =>
      Effect.map(lookup(tableName), (found) => {
        if (Option.isNone(found)) {
          add(
            where,
            `unknown table "${tableName}"`,
            "check the spelling and the schema (write `schema.table` outside `public`), and that the role can see it"
          )
          return Option.none<Catalog.TableInfo>()
        }
        if (found.value.kind !== "r" && found.value.kind !== "p") {
          add(
            where,
            `"${found.value.display}" is not a table (views and others cannot be replicated)`,
            "index the underlying table instead"
          )
          return Option.none<Catalog.TableInfo>()
        }
        return found
      })

    const columnOf = (where: string, info: Catalog.TableInfo, name: string) => {
      const found = Catalog.column(info, name)
      if (Option.isNone(found)) {
        add(
          where,
          `unknown column "${name}" in table "${info.display}"`,
          `use one of its columns: ${info.columns.map((c) => c.name).join(", ")}`
        )
      }
      return found
    }

    const comparable = (where: string, left: Catalog.Column, right: Catalog.Column) =>
      sql.unsafe(`SELECT NULL::${left.type} = NULL::${right.type} AS comparable`).pipe(
        Effect.as(true),
        Effect.catchTag("SqlError", () =>
          Effect.sync(() => {
            add(
              where,
              `the relation joins "${left.name}" (${left.type}) to "${right.name}" (${right.type}), which cannot be compared`,
              "join columns of compatible types (usually the foreign key and the key it references)"
            )
            return false
          })
        )
      )

    const needsOldImage = (where: string, info: Catalog.TableInfo, linkColumn: string) => {
      if (!info.identityColumns.includes(linkColumn)) {
        add(
          where,
          `table "${info.display}" does not log "${linkColumn}" in its old row image, so a row moved to another parent or deleted would leave the old parent's document stale`,
          `ALTER TABLE ${info.qualified} REPLICA IDENTITY FULL;`
        )
      }
    }

    const orderings = (
      where: string,
      info: Catalog.TableInfo,
      orderBy: ReadonlyArray<string> | undefined
    ) => {
      const result: Array<Ordering> = []
      for (const [i, entry] of (orderBy ?? []).entries()) {
        const [name = "", direction = "asc"] = entry.trim().split(/ +/)
        const found = columnOf(`${where}.order_by.${i}`, info, name)
        if (Option.isSome(found)) {
          result.push({ column: found.value, descending: direction.toLowerCase() === "desc" })
        }
      }
      return result
    }

    const node = (
      where: string,
      info: Catalog.TableInfo,
      fields: ReadonlyArray<string> | undefined,
      relations: CdcConfig.Relations
    ): Effect.Effect<PlanNode, SqlError.SqlError> =>
      Effect.gen(function* () {
        const columns =
          fields === undefined
            ? info.columns
            : fields.flatMap((name, i) => Option.toArray(columnOf(`${where}.fields.${i}`, info, name)))
        const planned: Array<PlanRelation> = []
        for (const [name, relation] of Object.entries(relations)) {
          const at = `${where}.relations.${name}`
          if (columns.some((c) => c.name === name)) {
            add(
              at,
              `"${name}" is also a field of the same document`,
              "rename the relation, or leave the column out of `fields`"
            )
          }
          const resolved = yield* relationOf(at, info, name, relation)
          if (Option.isSome(resolved)) planned.push(resolved.value)
        }
        return { table: info, fields: columns, relations: planned }
      })

    const keyOf = (where: string, info: Catalog.TableInfo, given: string | undefined, role: string) => {
      if (given !== undefined) return columnOf(where, info, given)
      const [only, ...more] = info.primaryKey
      if (only === undefined || more.length > 0) {
        add(
          where,
          `table "${info.display}" has ${only === undefined ? "no primary key" : "a composite primary key"}, so the ${role} is unknown`,
          `name the column with \`${where.split(".").pop() ?? "references"}:\``
        )
        return Option.none<Catalog.Column>()
      }
      return Catalog.column(info, only)
    }

    const relationOf = (
      at: string,
      parent: Catalog.TableInfo,
      name: string,
      relation: CdcConfig.Relation
    ): Effect.Effect<Option.Option<PlanRelation>, SqlError.SqlError> =>
      Effect.gen(function* () {
        const child = yield* table(`${at}.table`, relation.table)
        if (Option.isNone(child)) return Option.none()
        const childNode = yield* node(at, child.value, relation.fields, relation.relations ?? {})
        if (relation.kind === "many_to_many") {
          const through = yield* table(`${at}.through`, relation.through)
          const parentColumn = keyOf(
            `${at}.references`,
            parent,
            relation.references,
            "key the join table refers to"
          )
          const childColumn = keyOf(
            `${at}.target_references`,
            child.value,
            relation.targetReferences,
            "key the join table refers to"
          )
          if (Option.isNone(through)) return Option.none()
          const source = columnOf(`${at}.source_key`, through.value, relation.sourceKey)
          const target = columnOf(`${at}.target_key`, through.value, relation.targetKey)
          const orderBy = orderings(at, child.value, relation.orderBy)
          if (
            Option.isNone(parentColumn) ||
            Option.isNone(childColumn) ||
            Option.isNone(source) ||
            Option.isNone(target)
          ) {
            return Option.none()
          }
          const ok =
            (yield* comparable(`${at}.source_key`, parentColumn.value, source.value)) &&
            (yield* comparable(`${at}.target_key`, target.value, childColumn.value))
          needsOldImage(`${at}.through`, through.value, relation.sourceKey)
          needsOldImage(`${at}.table`, child.value, childColumn.value.name)
          if (!ok) return Option.none()
          return Option.some({
            kind: "many_to_many",
            name,
            node: childNode,
            parentColumn: parentColumn.value,
            through: through.value,
            throughSourceColumn: source.value,
            throughTargetColumn: target.value,
            childColumn: childColumn.value,
            orderBy,
            limit: relation.limit
          })
        }
        const [parentColumn, childColumn] =
          relation.kind === "belongs_to"
            ? [
                columnOf(`${at}.foreign_key`, parent, relation.foreignKey),
                keyOf(`${at}.references`, child.value, relation.references, "referenced key")
              ]
            : [
                keyOf(`${at}.references`, parent, relation.references, "referenced key"),
                columnOf(`${at}.foreign_key`, child.value, relation.foreignKey)
              ]
        const orderBy = relation.kind === "belongs_to" ? [] : orderings(at, child.value, relation.orderBy)
        if (Option.isNone(parentColumn) || Option.isNone(childColumn)) return Option.none()
        const where = `${at}.${relation.kind === "belongs_to" ? "references" : "foreign_key"}`
        if (!(yield* comparable(where, parentColumn.value, childColumn.value))) return Option.none()
        needsOldImage(`${at}.table`, child.value, childColumn.value.name)
        return Option.some({
          kind: relation.kind,
          name,
          node: childNode,
          parentColumn: parentColumn.value,
          childColumn: childColumn.value,
          orderBy,
          limit: relation.kind === "belongs_to" ? undefined : relation.limit
        })
      })

    const rootTable = yield* table(`${at}.table`, index.table)
    if (Option.isNone(rootTable)) return Option.none()
    const root = rootTable.value
    const primaryKey = keyOf(`${at}.primary_key`, root, index.primaryKey, "document id")
    if (Option.isSome(primaryKey)) needsOldImage(`${at}.table`, root, primaryKey.value.name)
    const softDelete =
      index.softDelete === undefined ? Option.none() : columnOf(`${at}.soft_delete`, root, index.softDelete)
    const rootNode = yield* node(at, root, index.fields, index.relations)
    index.searchable.forEach((path, i) => {
      if (!pathExists(rootNode, path.split("."))) {
        add(
          `${at}.searchable.${i}`,
          `"${path}" is not a field of the document`,
          "name a field of the root or a relation's field as `relation.field`"
        )
      }
    })
    if (problems.length > before || Option.isNone(primaryKey)) return Option.none()
    return Option.some({
      name: index.name,
      root: rootNode,
      primaryKey: primaryKey.value,
      softDelete: Option.getOrUndefined(softDelete),
      searchable: index.searchable,
      onError: index.onError ?? defaultOnError
    })
  })

const pathExists = (node: PlanNode, path: ReadonlyArray<string>): boolean => {
  const [head, ...rest] = path
  if (head === undefined) return true
  if (rest.length === 0 && node.fields.some((c) => c.name === head)) return true
  const relation = node.relations.find((r) => r.name === head)
  return relation !== undefined && pathExists(relation.node, rest)
}
