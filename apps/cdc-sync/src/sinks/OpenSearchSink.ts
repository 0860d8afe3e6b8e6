/**
 * The `opensearch` sink, on the official `@opensearch-project/opensearch` client.
 *
 * ```text
 *   alias  <prefix><index>  ──▶  <prefix><index>_g<N>        the serving generation
 *                                <prefix><index>_g<N+1>      while a reindex builds it
 *   <prefix>converge_seeded        one document per index: { snapshot_lsn, generation }
 *   <prefix>converge_dead_letters  rejected documents with their reason (on_error: dead_letter)
 * ```
 *
 * - **Writes** are `_bulk` NDJSON requests capped by count (`max_bulk_documents`, 1000) and bytes
 *   (`max_bulk_bytes`, 10 MiB). Every action carries `version = LSN, version_type = external_gte`:
 *   OpenSearch itself refuses a write older than the stored one (a `version_conflict` item, which
 *   is the LSN guard working, not a rejection), and a replay of the same position rewrites it.
 *   Deletes are **versioned deletes**: OpenSearch keeps the delete's version as a tombstone for
 *   `index.gc_deletes` (60 s by default; the sink creates its indexes with `gc_deletes` from the
 *   configuration, default 1 h), so a late older upsert within that window cannot resurrect it.
 * - **Item errors** map back to the documents: 429 and 5xx items, a missing index and a cluster
 *   block make the whole write `SinkUnavailable` (retried; idempotent thanks to the versions);
 *   any other item error (e.g. a 400 `mapper_parsing_exception`) is a `Rejection` that follows
 *   the index's `on_error`.
 * - **Generations**: the alias points at exactly one `_gN` index. `ensureIndexes` creates `_g1`
 *   behind the alias when there is none and drops generations the alias does not point at and no
 *   reindex of this process is building (a half-built one a crash left; `interruptedGenerations`
 *   reports it first). `beginGeneration` creates `_g<N+1>`; `write` then goes to both,
 *   `writeNextGeneration` to the new one only; `swapGeneration` restores its refresh interval,
 *   refreshes it, and swaps the alias with one atomic `_aliases` call (`add` the new index,
 *   `remove_index` the old one), then records the index seeded.
 * - **Search**: `searchable` is recorded in the mapping's `_meta`; OpenSearch's dynamic mapping
 *   makes every string field full-text searchable through the alias.
 * - **Refresh** is disabled (`refresh_interval: -1`) while an index is being seeded (from
 *   creation or `clearSeeded` until `markSeeded`) and while a generation is built; `markSeeded`
 *   and `swapGeneration` restore the configured interval and refresh once.
 * - A bulk answer comes after the translog write (durable by default), so `flush` has nothing
 *   left to do. `sweep` refreshes, scrolls the index for documents with a version below the LSN
 *   and deletes them with `version_type: external` at that LSN (a newer live write wins).
 *
 * Tested against a local HTTP stand-in of the REST API subset above (test/fixtures/OpenSearchStandIn.ts),
 * not against a real cluster: no OpenSearch server can run where this was built.
 */
import type { ApiResponse } from "@opensearch-project/opensearch"
import { Client, errors } from "@opensearch-project/opensearch"
import { Effect, type Scope } from "effect"
import * as Lsn from "../capture/Lsn.js"
import type { DocumentWrite, IndexSpec, Rejection, Sink, WriteReport } from "./Sink.js"
import { latestPerDocument, SinkUnavailable } from "./Sink.js"

/** Where and how the sink writes. */
export interface Options {
  /** The sink's name in the configuration. */
  readonly name: string
  /** Node URLs, e.g. `http://localhost:9200`. */
  readonly nodes: ReadonlyArray<string>
  readonly auth?: { readonly username: string; readonly password: string } | undefined
  /** Prepended to every index, alias and state index name (names are lower-cased). */
  readonly indexPrefix: string
  /** Most actions per `_bulk` request (default 1000). */
  readonly maxBulkDocuments: number
  /** Most bytes of NDJSON per `_bulk` request (default 10 MiB). */
  readonly maxBulkBytes: number
  /** The refresh interval restored after seeding (default `1s`). */
  readonly refreshInterval: string
  /** How long versioned deletes are remembered (`index.gc_deletes`, default `1h`). */
  readonly gcDeletes: string
  /** Milliseconds before a request times out. */
  readonly requestTimeoutMillis: number
}

/** The default bulk caps: 1000 actions, 10 MiB. */
export const defaultCaps = { maxBulkDocuments: 1000, maxBulkBytes: 10 * 1024 * 1024 } as const

/** One bulk action: its two NDJSON lines (one for a delete), and the write it carries. */
interface Action {
  readonly lines: ReadonlyArray<string>
  readonly bytes: number
  readonly write: DocumentWrite
}

interface BulkItem {
  readonly status: number
  readonly error?: { readonly type?: string; readonly reason?: string } | undefined
}

/** Splits actions into bulk requests of at most `maxDocuments` actions and `maxBytes` bytes (an oversized action goes alone). */
export const chunk = <A extends { readonly bytes: number }>(
  actions: ReadonlyArray<A>,
  maxDocuments: number,
  maxBytes: number
): ReadonlyArray<ReadonlyArray<A>> => {
  const chunks: Array<Array<A>> = []
  let current: Array<A> = []
  let bytes = 0
  for (const action of actions) {
    if (current.length > 0 && (current.length >= maxDocuments || bytes + action.bytes > maxBytes)) {
      chunks.push(current)
      current = []
      bytes = 0
    }
    current.push(action)
    bytes += action.bytes
  }
  if (current.length > 0) chunks.push(current)
  return chunks
}

/** The NDJSON lines of one write into `target`, versioned by its LSN. */
export const actionLines = (write: DocumentWrite, target: string): ReadonlyArray<string> => {
  const meta = `{"_index":${JSON.stringify(target)},"_id":${JSON.stringify(write.id)},"version":${write.lsn.toString()},"version_type":"external_gte"}`
  return write.json === null ? [`{"delete":${meta}}`] : [`{"index":${meta}}`, write.json]
}

/** The sink on a cluster; its client closes with the scope. */
export const make = (options: Options): Effect.Effect<Sink, never, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(
      Effect.sync(
        () =>
          new Client({
            node: [...options.nodes],
            ...(options.auth === undefined ? {} : { auth: { ...options.auth } }),
            // The pipeline retries whole batches with backoff; the client does not retry on its own.
            maxRetries: 0,
            requestTimeout: options.requestTimeoutMillis
          })
      ),
      (client) => Effect.promise(() => client.close())
    ),
    (client): Sink => {
      const name = (text: string) => `${options.indexPrefix}${text}`.toLowerCase()
      const aliasOf = (index: string) => name(index)
      const generationName = (index: string, generation: number) => `${aliasOf(index)}_g${generation}`
      const markers = name("converge_seeded")
      const deadLetters = name("converge_dead_letters")
      /** The generation being built per index (this process only: a crash drops it). */
      const next = new Map<string, string>()

      const describe = (cause: unknown): string => {
        if (cause instanceof errors.ResponseError) {
          const body = cause.meta.body as
            | { readonly error?: { readonly reason?: string } | string }
            | undefined
          const reason = typeof body?.error === "string" ? body.error : body?.error?.reason
          return `the cluster answered ${cause.statusCode}${reason === undefined ? "" : `: ${reason}`}`
        }
        if (cause instanceof errors.ConnectionError) return `cannot connect (${cause.message})`
        if (cause instanceof errors.TimeoutError) return `no answer within ${options.requestTimeoutMillis} ms`
        return cause instanceof Error ? cause.message : String(cause)
      }
      const call = (
        what: string,
        request: () => Promise<ApiResponse>
      ): Effect.Effect<unknown, SinkUnavailable> =>
        Effect.tryPromise({
          try: async () => (await request()).body,
          catch: (cause) =>
            new SinkUnavailable({
              sink: options.name,
              message: `opensearch sink "${options.name}": ${what} failed: ${describe(cause)}`,
              cause
            })
        })

      /** `POST /_bulk` with NDJSON lines as they are (the typed `bulk` would parse and re-serialize documents). */
      const postBulk = (lines: ReadonlyArray<string>) =>
        client.transport.request({ method: "POST", path: "/_bulk", bulkBody: `${lines.join("\n")}\n` })

      const setRefresh = (index: string, interval: string) =>
        call(`setting refresh_interval of "${index}" to ${interval}`, () =>
          client.indices.putSettings({ index, body: { index: { refresh_interval: interval } } })
        )
      const refresh = (index: string) =>
        call(`refreshing "${index}"`, () => client.indices.refresh({ index }))

      const createIndex = (index: string, spec: IndexSpec, alias?: string) =>
        call(`creating index "${index}"`, () =>
          client.indices.create({
            index,
            body: {
              settings: { index: { refresh_interval: "-1", gc_deletes: options.gcDeletes } },
              mappings: { _meta: { converge: { index: spec.name, searchable: [...spec.searchable] } } },
              ...(alias === undefined ? {} : { aliases: { [alias]: {} } })
            }
          })
        )

      /** The index the alias points at, if any. */
      const servingOf = (index: string) =>
        call(`reading alias "${aliasOf(index)}"`, () =>
          client.indices.getAlias({ name: aliasOf(index) }, { ignore: [404] })
        ).pipe(
          Effect.map((body) => {
            const found = Object.keys((body ?? {}) as Record<string, unknown>).filter(
              (key) => key !== "error" && key !== "status"
            )
            return found[0]
          })
        )

      /** Every `_gN` index of `index`, by generation number. */
      const generationsOf = (index: string) =>
        call(`listing generations of "${aliasOf(index)}"`, () =>
          client.indices.get({
            index: `${aliasOf(index)}_g*`,
            allow_no_indices: true,
            ignore_unavailable: true
          })
        ).pipe(
          Effect.map((body) =>
            Object.keys(body as Record<string, unknown>)
              .map((key) => ({ key, generation: Number(key.slice(`${aliasOf(index)}_g`.length)) }))
              .filter(
                (entry) => entry.key.startsWith(`${aliasOf(index)}_g`) && Number.isInteger(entry.generation)
              )
          )
        )

      const dropIndex = (index: string) =>
        call(`dropping index "${index}"`, () => client.indices.delete({ index }, { ignore: [404] }))

      const ensureStateIndex = (index: string) =>
        Effect.flatMap(
          call(`checking index "${index}"`, () => client.indices.exists({ index })),
          (exists) =>
            exists
              ? Effect.void
              : call(`creating index "${index}"`, () => client.indices.create({ index }, { ignore: [400] }))
        )

      const seededMarker = (index: string) =>
        call(`reading the seeded marker of "${index}"`, () =>
          client.get({ index: markers, id: index }, { ignore: [404] })
        ).pipe(Effect.map((body) => (body as { readonly found?: boolean }).found === true))

      /** Prepares one index: a serving generation behind the alias; generations a crash left half-built dropped. */
      const ensureIndex = (spec: IndexSpec) =>
        Effect.gen(function* () {
          const alias = aliasOf(spec.name)
          const serving = yield* servingOf(spec.name)
          const generations = yield* generationsOf(spec.name)
          // The one a reindex of this process is building stays (a capture restart re-ensures).
          for (const generation of generations) {
            if (generation.key !== serving && generation.key !== next.get(spec.name)) {
              yield* dropIndex(generation.key)
            }
          }
          if (serving === undefined) {
            const plain = yield* call(`checking index "${alias}"`, () =>
              client.indices.exists({ index: alias })
            )
            if (plain) {
              return yield* new SinkUnavailable({
                sink: options.name,
                message: `opensearch sink "${options.name}": "${alias}" is an index, not an alias; the sink keeps index generations behind an alias: reindex it into "${alias}_g1" and alias it, or delete it`
              })
            }
            const highest = generations.reduce((max, entry) => Math.max(max, entry.generation), 0)
            yield* createIndex(generationName(spec.name, highest + 1), spec, alias)
          } else if (!(yield* seededMarker(spec.name))) {
            yield* setRefresh(serving, "-1")
          }
        })

      /** Sends actions in capped bulks; returns the rejections, fails on transient item errors. */
      const bulk = (
        actions: ReadonlyArray<Action>
      ): Effect.Effect<ReadonlyArray<Rejection>, SinkUnavailable> =>
        Effect.forEach(chunk(actions, options.maxBulkDocuments, options.maxBulkBytes), (requestActions) =>
          call(`a _bulk of ${requestActions.length} actions`, () =>
            postBulk(requestActions.flatMap((action) => action.lines))
          ).pipe(
            Effect.flatMap((body) => {
              const answer = body as {
                readonly errors?: boolean
                readonly items?: ReadonlyArray<Record<string, BulkItem>>
              }
              if (answer.errors !== true) return Effect.succeed<ReadonlyArray<Rejection>>([])
              const rejected: Array<Rejection> = []
              const items = answer.items ?? []
              for (const [position, action] of requestActions.entries()) {
                const entry = items[position]
                const item = entry === undefined ? undefined : Object.values(entry)[0]
                if (item?.error === undefined) continue
                if (item.status === 409 || item.error.type === "version_conflict_engine_exception") continue
                // Busy, failing, or the index itself is gone: not the document's fault, retry the batch.
                if (
                  item.status === 429 ||
                  item.status >= 500 ||
                  item.error.type === "index_not_found_exception" ||
                  item.error.type === "cluster_block_exception"
                ) {
                  return Effect.fail(
                    new SinkUnavailable({
                      sink: options.name,
                      message: `opensearch sink "${options.name}": the cluster refused document "${action.write.id}" of "${action.write.index}" for now (${item.status} ${item.error.type ?? ""}: ${item.error.reason ?? ""}); retrying the batch`
                    })
                  )
                }
                rejected.push({
                  index: action.write.index,
                  id: action.write.id,
                  json: action.write.json,
                  reason: `${item.error.type ?? `status ${item.status}`}: ${item.error.reason ?? ""}`
                })
              }
              return Effect.succeed(rejected)
            })
          )
        ).pipe(
          Effect.map((perRequest) => {
            // A document written to two generations is rejected once.
            const unique = new Map<string, Rejection>()
            for (const rejection of perRequest.flat())
              unique.set(`${rejection.index}\u0000${rejection.id}`, rejection)
            return [...unique.values()]
          })
        )

      const actionsOf = (
        writes: ReadonlyArray<DocumentWrite>,
        targets: (write: DocumentWrite) => ReadonlyArray<string>
      ): ReadonlyArray<Action> =>
        latestPerDocument(writes).flatMap((write) =>
          targets(write).map((target) => {
            const lines = actionLines(write, target)
            return {
              lines,
              bytes: lines.reduce((sum, line) => sum + Buffer.byteLength(line) + 1, 0),
              write
            }
          })
        )

      const recordSeeded = (index: string, lsn: Lsn.Lsn, generation: string) =>
        call(`marking "${index}" seeded`, () =>
          client.index({
            index: markers,
            id: index,
            body: { index, snapshot_lsn: Lsn.format(lsn), generation, seeded_at: new Date().toISOString() }
          })
        )

      const servingOrFail = (index: string) =>
        Effect.flatMap(servingOf(index), (serving) =>
          serving === undefined
            ? Effect.fail(
                new SinkUnavailable({
                  sink: options.name,
                  message: `opensearch sink "${options.name}": alias "${aliasOf(index)}" is missing (deleted behind the sink's back?): restart to recreate it`
                })
              )
            : Effect.succeed(serving)
        )

      const sweepIndex = (index: string, lsn: Lsn.Lsn) =>
        Effect.gen(function* () {
          const alias = aliasOf(index)
          yield* refresh(alias)
          const stale: Array<{ readonly index: string; readonly id: string }> = []
          let lastScroll: string | undefined
          let page = yield* call(`scrolling "${alias}"`, () =>
            client.search({
              index: alias,
              scroll: "1m",
              body: { size: 1000, version: true, _source: false, query: { match_all: {} } }
            })
          )
          for (;;) {
            const body = page as {
              readonly _scroll_id?: string
              readonly hits: {
                readonly hits: ReadonlyArray<{
                  readonly _index: string
                  readonly _id: string
                  readonly _version: number
                }>
              }
            }
            if (body._scroll_id !== undefined) lastScroll = body._scroll_id
            if (body.hits.hits.length === 0 || body._scroll_id === undefined) break
            for (const hit of body.hits.hits) {
              if (BigInt(hit._version) < lsn) stale.push({ index: hit._index, id: hit._id })
            }
            const scrollId = body._scroll_id
            page = yield* call(`scrolling "${alias}"`, () =>
              client.scroll({ body: { scroll: "1m", scroll_id: scrollId } })
            )
          }
          const scrollToClear = lastScroll
          if (scrollToClear !== undefined) {
            yield* Effect.ignore(
              call("clearing the scroll", () => client.clearScroll({ body: { scroll_id: scrollToClear } }))
            )
          }
          const actions = stale.map((hit) => {
            const line = `{"delete":{"_index":${JSON.stringify(hit.index)},"_id":${JSON.stringify(hit.id)},"version":${lsn.toString()},"version_type":"external"}}`
            return {
              lines: [line],
              bytes: Buffer.byteLength(line) + 1,
              write: { index, id: hit.id, json: null, lsn }
            }
          })
          yield* bulk(actions)
        })

      return {
        name: options.name,
        ensureIndexes: (indexes) =>
          Effect.gen(function* () {
            yield* ensureStateIndex(markers)
            yield* ensureStateIndex(deadLetters)
            yield* Effect.forEach(indexes, ensureIndex, { discard: true })
          }),
        interruptedGenerations: (indexes) =>
          Effect.filter(
            indexes.filter((spec) => !next.has(spec.name)).map((spec) => spec.name),
            (index) =>
              Effect.gen(function* () {
                const serving = yield* servingOf(index)
                if (serving === undefined) return false
                return (yield* generationsOf(index)).some((generation) => generation.key !== serving)
              })
          ),
        write: (writes): Effect.Effect<WriteReport, SinkUnavailable> =>
          Effect.map(
            bulk(
              actionsOf(writes, (write) => {
                const building = next.get(write.index)
                return building === undefined ? [aliasOf(write.index)] : [aliasOf(write.index), building]
              })
            ),
            (rejected) => ({ rejected })
          ),
        storeDeadLetters: (rejections, lsn) =>
          rejections.length === 0
            ? Effect.void
            : call(`storing ${rejections.length} dead letters`, () =>
                postBulk(
                  rejections.flatMap((rejection) => [
                    JSON.stringify({ index: { _index: deadLetters } }),
                    JSON.stringify({
                      sink: options.name,
                      index: rejection.index,
                      document_id: rejection.id,
                      document: rejection.json,
                      reason: rejection.reason,
                      source_lsn: Lsn.format(lsn),
                      stored_at: new Date().toISOString()
                    })
                  ])
                )
              ).pipe(
                Effect.filterOrFail(
                  (body) => (body as { readonly errors?: boolean }).errors !== true,
                  () =>
                    new SinkUnavailable({
                      sink: options.name,
                      message: `opensearch sink "${options.name}": storing dead letters in "${deadLetters}" failed item by item`
                    })
                ),
                Effect.asVoid
              ),
        flush: Effect.void,
        isSeeded: seededMarker,
        markSeeded: (index, lsn) =>
          Effect.gen(function* () {
            const serving = yield* servingOrFail(index)
            yield* setRefresh(serving, options.refreshInterval)
            yield* refresh(serving)
            yield* recordSeeded(index, lsn, serving)
          }),
        clearSeeded: (index) =>
          Effect.gen(function* () {
            yield* call(`clearing the seeded marker of "${index}"`, () =>
              client.delete({ index: markers, id: index }, { ignore: [404] })
            )
            const serving = yield* servingOf(index)
            if (serving !== undefined) yield* setRefresh(serving, "-1")
          }),
        sweep: sweepIndex,
        beginGeneration: (spec) =>
          Effect.gen(function* () {
            const serving = yield* servingOrFail(spec.name)
            const generations = yield* generationsOf(spec.name)
            for (const generation of generations) {
              if (generation.key !== serving) yield* dropIndex(generation.key)
            }
            const highest = generations.reduce((max, entry) => Math.max(max, entry.generation), 0)
            const created = generationName(spec.name, highest + 1)
            yield* createIndex(created, spec)
            next.set(spec.name, created)
          }),
        writeNextGeneration: (writes) =>
          Effect.gen(function* () {
            const missing = writes.find((write) => !next.has(write.index))
            if (missing !== undefined) {
              return yield* new SinkUnavailable({
                sink: options.name,
                message: `opensearch sink "${options.name}": no next generation of "${missing.index}" was begun (beginGeneration first)`
              })
            }
            const rejected = yield* bulk(actionsOf(writes, (write) => [next.get(write.index) ?? ""]))
            return { rejected }
          }),
        swapGeneration: (index, lsn) =>
          Effect.gen(function* () {
            const building = next.get(index)
            if (building === undefined) {
              return yield* new SinkUnavailable({
                sink: options.name,
                message: `opensearch sink "${options.name}": no next generation of "${index}" to swap in (beginGeneration first)`
              })
            }
            const serving = yield* servingOrFail(index)
            yield* setRefresh(building, options.refreshInterval)
            yield* refresh(building)
            yield* call(`swapping alias "${aliasOf(index)}" to "${building}"`, () =>
              client.indices.updateAliases({
                body: {
                  actions: [
                    { add: { index: building, alias: aliasOf(index) } },
                    { remove_index: { index: serving } }
                  ]
                }
              })
            )
            next.delete(index)
            yield* recordSeeded(index, lsn, building)
          })
      }
    }
  )
