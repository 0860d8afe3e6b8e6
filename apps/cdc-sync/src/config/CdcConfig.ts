/**
 * The configuration of a CDC sync, as a Schema: which source to read, which sinks to write and
 * which documents (indexes) to build from which tables. YAML keys are snake_case
 * (`on_error`, `order_by`); the decoded values are camelCase.
 *
 * ```yaml
 * source: { slot: converge_cdc, publication: converge_cdc, manage_publication: true }
 * sinks:
 *   search: { type: postgres, schema: search }
 * indexes:
 *   - name: orders
 *     table: orders
 *     fields: [id, status, total]
 *     searchable: [status, customer.name, items.sku]
 *     relations:
 *       customer: { kind: belongs_to, table: customers, foreign_key: customer_id }
 *       items: { kind: has_many, table: order_items, foreign_key: order_id, order_by: [position], limit: 50 }
 * ```
 */
import { Schema } from "effect"

/** A name that is also a Postgres identifier (a sink table, a document key's column alias): Postgres cuts longer ones at 63 bytes. */
const Identifier = Schema.String.pipe(
  Schema.filter(
    (name) =>
      !/^[A-Za-z_][A-Za-z0-9_$]*$/.test(name)
        ? "expected an SQL identifier: letters, digits, _ or $, not starting with a digit"
        : name.length > 63
          ? "expected at most 63 characters (Postgres cuts longer names)"
          : undefined,
    // How a failing record key (a relation name) is described.
    { title: "an SQL identifier of at most 63 characters" }
  )
)

/** A table name, `table` or `schema.table` (unquoted identifiers; `public` when no schema is given). */
export const TableName = Schema.String.pipe(
  Schema.pattern(/^([A-Za-z_][A-Za-z0-9_$]*\.)?[A-Za-z_][A-Za-z0-9_$]*$/, {
    message: () => "expected a table name: `table` or `schema.table`"
  })
)

/** A column to order related rows by: `column` or `column desc` / `column asc`. */
export const OrderBy = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z_][A-Za-z0-9_$]*( +(asc|desc))?$/i, {
    message: () => "expected `column`, `column asc` or `column desc`"
  })
)

/** What to do with a document a sink rejects: halt without acking, count and go on, or store it aside. */
export const OnError = Schema.Literal("stop", "skip", "dead_letter")
/** What to do with a document a sink rejects. */
export type OnError = typeof OnError.Type

const PositiveInt = Schema.Int.pipe(Schema.positive({ message: () => "expected a positive integer" }))

const common = {
  table: TableName,
  fields: Schema.optional(Schema.Array(Identifier)),
  relations: Schema.optional(Schema.suspend((): Schema.Schema<Relations, RelationsEncoded> => Relations))
}

/** The related table is the parent's target: `parent.foreign_key = related.references` (default its primary key). */
export interface BelongsTo {
  readonly kind: "belongs_to"
  readonly table: string
  readonly foreignKey: string
  readonly references?: string | undefined
  readonly fields?: ReadonlyArray<string> | undefined
  readonly relations?: Relations | undefined
}

/** Related rows point at the parent: `related.foreign_key = parent.references` (default its primary key). */
export interface HasChildren {
  readonly kind: "has_one" | "has_many"
  readonly table: string
  readonly foreignKey: string
  readonly references?: string | undefined
  readonly orderBy?: ReadonlyArray<string> | undefined
  readonly limit?: number | undefined
  readonly fields?: ReadonlyArray<string> | undefined
  readonly relations?: Relations | undefined
}

/**
 * Related rows through a join table: `through.source_key = parent.references` and
 * `through.target_key = related.target_references` (both default to the primary keys).
 */
export interface ManyToMany {
  readonly kind: "many_to_many"
  readonly table: string
  readonly through: string
  readonly sourceKey: string
  readonly targetKey: string
  readonly references?: string | undefined
  readonly targetReferences?: string | undefined
  readonly orderBy?: ReadonlyArray<string> | undefined
  readonly limit?: number | undefined
  readonly fields?: ReadonlyArray<string> | undefined
  readonly relations?: Relations | undefined
}

/** A relation nested into the document under its name. */
export type Relation = BelongsTo | HasChildren | ManyToMany
/** Relations by the document key they are nested under. */
export type Relations = { readonly [name: string]: Relation }

interface RelationsEncoded {
  readonly [name: string]: RelationEncoded
}
type RelationEncoded =
  | {
      readonly kind: "belongs_to"
      readonly table: string
      readonly foreign_key: string
      readonly references?: string | undefined
      readonly fields?: ReadonlyArray<string> | undefined
      readonly relations?: RelationsEncoded | undefined
    }
  | {
      readonly kind: "has_one" | "has_many"
      readonly table: string
      readonly foreign_key: string
      readonly references?: string | undefined
      readonly order_by?: ReadonlyArray<string> | undefined
      readonly limit?: number | undefined
      readonly fields?: ReadonlyArray<string> | undefined
      readonly relations?: RelationsEncoded | undefined
    }
  | {
      readonly kind: "many_to_many"
      readonly table: string
      readonly through: string
      readonly source_key: string
      readonly target_key: string
      readonly references?: string | undefined
      readonly target_references?: string | undefined
      readonly order_by?: ReadonlyArray<string> | undefined
      readonly limit?: number | undefined
      readonly fields?: ReadonlyArray<string> | undefined
      readonly relations?: RelationsEncoded | undefined
    }

const snake = <const K extends string, S extends Schema.Schema.All>(key: K, schema: S) =>
  Schema.optional(schema).pipe(Schema.fromKey(key))

const BelongsToSchema = Schema.Struct({
  kind: Schema.Literal("belongs_to"),
  ...common,
  foreignKey: Schema.propertySignature(Identifier).pipe(Schema.fromKey("foreign_key")),
  references: Schema.optional(Identifier)
})

const HasChildrenSchema = Schema.Struct({
  kind: Schema.Literal("has_one", "has_many"),
  ...common,
  foreignKey: Schema.propertySignature(Identifier).pipe(Schema.fromKey("foreign_key")),
  references: Schema.optional(Identifier),
  orderBy: snake("order_by", Schema.Array(OrderBy)),
  limit: Schema.optional(PositiveInt)
})

const ManyToManySchema = Schema.Struct({
  kind: Schema.Literal("many_to_many"),
  ...common,
  through: TableName,
  sourceKey: Schema.propertySignature(Identifier).pipe(Schema.fromKey("source_key")),
  targetKey: Schema.propertySignature(Identifier).pipe(Schema.fromKey("target_key")),
  references: Schema.optional(Identifier),
  targetReferences: snake("target_references", Identifier),
  orderBy: snake("order_by", Schema.Array(OrderBy)),
  limit: Schema.optional(PositiveInt)
})

/** One relation; `kind` selects its shape. */
export const Relation: Schema.Schema<Relation, RelationEncoded> = Schema.Union(
  BelongsToSchema,
  HasChildrenSchema,
  ManyToManySchema
)

/** Relations by the document key they are nested under. */
export const Relations: Schema.Schema<Relations, RelationsEncoded> = Schema.Record({
  key: Identifier,
  value: Relation
})

/** One index: documents built from a root table (one document per root row) and its relations. */
export const Index = Schema.Struct({
  name: Identifier,
  table: TableName,
  /** The root's primary key column; default: read from the catalog (a single-column key is required). */
  primaryKey: snake("primary_key", Identifier),
  /** Root columns copied into the document; default: every column. */
  fields: Schema.optional(Schema.Array(Identifier)),
  /** Dot paths into the document (`title`, `customer.name`, `items.sku`) indexed for full-text search. */
  searchable: Schema.optionalWith(
    Schema.Array(
      Schema.String.pipe(
        Schema.pattern(/^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)*$/, {
          message: () => "expected a dot path of field names, e.g. `customer.name`"
        })
      )
    ),
    { default: () => [] }
  ),
  relations: Schema.optionalWith(Relations, { default: () => ({}) }),
  /** A root column that marks a row deleted when not null: its document is deleted from the sinks. */
  softDelete: snake("soft_delete", Identifier),
  onError: snake("on_error", OnError)
})
/** One index. */
export type Index = typeof Index.Type

/** Where changes come from. `url` may be overridden by `DATABASE_URL`. */
export const Source = Schema.Struct({
  url: Schema.optional(Schema.String),
  slot: Schema.optionalWith(Identifier, { default: () => "converge_cdc" }),
  publication: Schema.optionalWith(Identifier, { default: () => "converge_cdc" }),
  /** Create or extend the publication when the role may; otherwise only report the SQL to run. */
  managePublication: Schema.optionalWith(Schema.Boolean, { default: () => true }).pipe(
    Schema.fromKey("manage_publication")
  )
})
/** Where changes come from. */
export type Source = typeof Source.Type

/** JSON lines on standard output. */
export const StdoutSink = Schema.Struct({
  type: Schema.Literal("stdout"),
  pretty: Schema.optionalWith(Schema.Boolean, { default: () => false })
})

/** One table per index in a Postgres schema, with a full-text `tsvector` over the searchable fields. */
export const PostgresSink = Schema.Struct({
  type: Schema.Literal("postgres"),
  /** The target database; default: the source database. */
  url: Schema.optional(Schema.String),
  schema: Schema.optionalWith(Identifier, { default: () => "cdc" }),
  /** The text search configuration of the `search` column. */
  textSearchConfig: Schema.optionalWith(Identifier, { default: () => "simple" }).pipe(
    Schema.fromKey("text_search_config")
  )
})

/** Batches of writes POSTed as JSON to `url`, with an `Idempotency-Key` and bounded retries. */
export const WebhookSink = Schema.Struct({
  type: Schema.Literal("webhook"),
  url: Schema.String.pipe(
    Schema.pattern(/^https?:\/\/\S+$/, { message: () => "expected an http:// or https:// URL" })
  ),
  /** Extra request headers, e.g. `authorization`. */
  headers: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.String }), {
    default: () => ({})
  }),
  timeoutMs: Schema.optionalWith(PositiveInt, { default: () => 10_000 }).pipe(Schema.fromKey("timeout_ms")),
  maxBatch: Schema.optionalWith(PositiveInt, { default: () => 500 }).pipe(Schema.fromKey("max_batch")),
  /** Attempts per request (connection refused, timeout, 5xx, 429) before the batch counts as failed. */
  attempts: Schema.optionalWith(PositiveInt, { default: () => 5 }),
  retryDelayMs: Schema.optionalWith(PositiveInt, { default: () => 200 }).pipe(
    Schema.fromKey("retry_delay_ms")
  ),
  /** Schema in the source database for the sink's seeded markers and dead letters. */
  stateSchema: Schema.optionalWith(Identifier, { default: () => "converge_cdc" }).pipe(
    Schema.fromKey("state_schema")
  )
})

/** An OpenSearch cluster: index generations behind an alias per index, bulk writes versioned by LSN. */
export const OpenSearchSink = Schema.Struct({
  type: Schema.Literal("opensearch"),
  nodes: Schema.NonEmptyArray(
    Schema.String.pipe(
      Schema.pattern(/^https?:\/\/\S+$/, { message: () => "expected an http:// or https:// URL" })
    )
  ),
  auth: Schema.optional(Schema.Struct({ username: Schema.String, password: Schema.String })),
  /** Prepended to every index, alias and state index name. */
  indexPrefix: Schema.optionalWith(Schema.String, { default: () => "" }).pipe(Schema.fromKey("index_prefix")),
  maxBulkDocuments: Schema.optionalWith(PositiveInt, { default: () => 1000 }).pipe(
    Schema.fromKey("max_bulk_documents")
  ),
  maxBulkBytes: Schema.optionalWith(PositiveInt, { default: () => 10 * 1024 * 1024 }).pipe(
    Schema.fromKey("max_bulk_bytes")
  ),
  /** The refresh interval restored once an index is seeded. */
  refreshInterval: Schema.optionalWith(Schema.String, { default: () => "1s" }).pipe(
    Schema.fromKey("refresh_interval")
  ),
  /** How long OpenSearch remembers versioned deletes (`index.gc_deletes`). */
  gcDeletes: Schema.optionalWith(Schema.String, { default: () => "1h" }).pipe(Schema.fromKey("gc_deletes")),
  requestTimeoutMs: Schema.optionalWith(PositiveInt, { default: () => 30_000 }).pipe(
    Schema.fromKey("request_timeout_ms")
  )
})

/** One sink, selected by `type`. */
export const Sink = Schema.Union(StdoutSink, PostgresSink, WebhookSink, OpenSearchSink)
/** One sink. */
export type Sink = typeof Sink.Type

/** How changes are grouped into batches: whichever limit is reached first closes a batch. */
export const Batch = Schema.Struct({
  maxChanges: Schema.optionalWith(PositiveInt, { default: () => 4096 }).pipe(Schema.fromKey("max_changes")),
  maxWaitMs: Schema.optionalWith(PositiveInt, { default: () => 50 }).pipe(Schema.fromKey("max_wait_ms"))
})

/** Where the HTTP servers listen: status, metrics and health on `bind`; `/reindex` on `admin_bind`. */
export const Server = Schema.Struct({
  bind: Schema.optionalWith(Schema.String, { default: () => "127.0.0.1:9464" }),
  adminBind: Schema.optionalWith(Schema.String, { default: () => "127.0.0.1:9465" }).pipe(
    Schema.fromKey("admin_bind")
  )
})

/** The whole configuration file. */
export const CdcConfig = Schema.Struct({
  source: Schema.optionalWith(Source, { default: () => Source.make({}) }),
  sinks: Schema.optionalWith(Schema.Record({ key: Identifier, value: Sink }), {
    default: () => ({ stdout: { type: "stdout" as const, pretty: false } })
  }),
  indexes: Schema.NonEmptyArray(Index),
  onError: Schema.optionalWith(OnError, { default: () => "stop" as const }).pipe(Schema.fromKey("on_error")),
  batch: Schema.optionalWith(Batch, { default: () => Batch.make({}) }),
  queueCapacity: Schema.optionalWith(PositiveInt, { default: () => 16384 }).pipe(
    Schema.fromKey("queue_capacity")
  ),
  server: Schema.optionalWith(Server, { default: () => Server.make({}) })
})
/** The whole configuration file, decoded. */
export type CdcConfig = typeof CdcConfig.Type
