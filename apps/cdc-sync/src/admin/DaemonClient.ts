/**
 * What the CLI asks a running daemon over HTTP: `converge-cdc reindex` posts to the admin
 * server's `/reindex`, `converge-cdc status` reads the status server's `/status`. The base URLs
 * default to the configuration's `server.admin_bind` and `server.bind`.
 */
import { HttpClient, HttpClientRequest, type HttpClientResponse } from "@effect/platform"
import { Data, Duration, Effect, Schema } from "effect"
import type { CdcConfig } from "../config/CdcConfig.js"
import * as CdcStatus from "../observe/CdcStatus.js"

/** Nothing answers at the daemon's URL: it is not running, or listens elsewhere. */
export class DaemonUnreachable extends Data.TaggedError("DaemonUnreachable")<{
  readonly url: string
  readonly reason: string
  readonly option: string
}> {
  override get message(): string {
    return `no converge-cdc daemon answers at ${this.url} (${this.reason}): start it with "converge-cdc run -c FILE", or pass ${this.option} with the address it listens on`
  }
}

/** The daemon answered, but refused the request (unknown index, already reindexing, …). */
export class DaemonRefused extends Data.TaggedError("DaemonRefused")<{
  readonly url: string
  readonly status: number
  readonly reason: string
}> {
  override get message(): string {
    return `the daemon at ${this.url} refused (HTTP ${this.status}): ${this.reason}`
  }
}

/** `http://HOST:PORT` of a `HOST:PORT` bind address (a wildcard host is reached on loopback). */
export const urlOfBind = (bind: string): string => {
  const separator = bind.lastIndexOf(":")
  const host = separator < 0 ? bind : bind.slice(0, separator)
  const port = separator < 0 ? "" : bind.slice(separator)
  const reachable = host === "" || host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "[::1]" : host
  return `http://${reachable}${port}`
}

/** The admin server's base URL: `--admin`, else `server.admin_bind`. */
export const adminUrl = (config: CdcConfig, override: string | undefined): string =>
  (override ?? urlOfBind(config.server.adminBind)).replace(/\/+$/, "")

/** The status server's base URL: `--url`, else `server.bind`. */
export const statusUrl = (config: CdcConfig, override: string | undefined): string =>
  (override ?? urlOfBind(config.server.bind)).replace(/\/+$/, "")

const ErrorBody = Schema.Struct({ error: Schema.String })

/** The innermost reason of a transport failure, e.g. `connect ECONNREFUSED 127.0.0.1:9465`. */
const causeOf = (error: { readonly message: string; readonly cause?: unknown }): string => {
  let reason = error.message
  let cause: unknown = error.cause
  while (cause instanceof Error) {
    reason = cause.message
    cause = cause.cause
  }
  return reason
}

const send = (request: HttpClientRequest.HttpClientRequest, option: string) =>
  Effect.flatMap(HttpClient.HttpClient, (client) => client.execute(request)).pipe(
    Effect.timeoutFail({
      duration: Duration.seconds(10),
      onTimeout: () => new DaemonUnreachable({ url: request.url, reason: "no answer within 10 s", option })
    }),
    Effect.catchTag("RequestError", (error) =>
      Effect.fail(new DaemonUnreachable({ url: request.url, reason: causeOf(error), option }))
    )
  )

const refusal = (response: HttpClientResponse.HttpClientResponse, url: string) =>
  response.text.pipe(
    Effect.map((text) => {
      const decoded = Schema.decodeUnknownOption(Schema.parseJson(ErrorBody))(text)
      return decoded._tag === "Some" ? decoded.value.error : text
    }),
    Effect.orElseSucceed(() => "(no readable body)"),
    Effect.flatMap((reason) => Effect.fail(new DaemonRefused({ url, status: response.status, reason })))
  )

/** Asks the daemon at `baseUrl` to reindex `index`; succeeds once it accepted (202). */
export const requestReindex = (baseUrl: string, index: string) =>
  Effect.gen(function* () {
    const url = `${baseUrl}/reindex?index=${encodeURIComponent(index)}`
    const response = yield* send(HttpClientRequest.post(url), "--admin")
    if (response.status !== 202) return yield* refusal(response, url)
  }).pipe(Effect.scoped)

/** The daemon's `/status` at `baseUrl`: the raw JSON text and the decoded status. */
export const fetchStatus = (baseUrl: string) =>
  Effect.gen(function* () {
    const url = `${baseUrl}/status`
    const response = yield* send(HttpClientRequest.get(url), "--url")
    if (response.status !== 200) return yield* refusal(response, url)
    const text = yield* response.text.pipe(
      Effect.catchAll((error) =>
        Effect.fail(new DaemonUnreachable({ url, reason: error.message, option: "--url" }))
      )
    )
    const status = yield* Schema.decodeUnknown(Schema.parseJson(CdcStatus.CdcStatus))(text)
    return { text, status }
  }).pipe(Effect.scoped)

/** The status for people: phase, uptime, per-index states, counters, lag and the last error. */
export const formatStatus = (status: CdcStatus.CdcStatus, now: Date): string => {
  const uptimeSeconds = Math.max(0, Math.round((now.getTime() - status.startedAt.getTime()) / 1000))
  const width = Math.max(...Object.keys(status.indexes).map((name) => name.length), 5)
  return [
    `phase:     ${status.phase} (up ${uptimeSeconds} s, since ${status.startedAt.toISOString()})`,
    "indexes:",
    ...Object.entries(status.indexes).map(([name, state]) => `  ${name.padEnd(width)}  ${state}`),
    `changes:   ${status.changesCaptured} captured, ${status.changesCommitted} committed, ${status.changesInFlight} in flight`,
    `documents: ${status.documentsWritten} written in ${status.batches} batches, ${status.quarantined} quarantined`,
    `slot:      lag ${status.slotLagBytes === null ? "unknown" : `${status.slotLagBytes} bytes`}, acked ${status.ackedLsn ?? "nothing yet"}`,
    `truncates: ${status.truncates}`,
    `errors:    ${status.errors}${status.lastError === null ? "" : ` (last: ${status.lastError})`}`
  ].join("\n")
}
