/**
 * Where the HTTP sources connect and what they send: the base URL of an FDv2 service, the paths of
 * its endpoints, extra headers (e.g. an SDK key) and decoding limits. Defaults match `serve-fdv2`.
 */
import * as Protocol from "../Protocol.js"
import * as ProtocolHandler from "../ProtocolHandler.js"

/** Endpoint settings; only `baseUrl` is required. */
export interface Options {
  /** E.g. `http://127.0.0.1:8030` (a trailing slash is fine). */
  readonly baseUrl: string
  /** Default `/sdk/stream`. */
  readonly streamPath?: string | undefined
  /** Default `/sdk/poll`. */
  readonly pollPath?: string | undefined
  /** Default `/sdk/latest-all`. */
  readonly fdv1Path?: string | undefined
  /** Headers sent with every request, e.g. `{ authorization: sdkKey }`. */
  readonly headers?: Readonly<Record<string, string>> | undefined
  /** The largest SSE event or polling body accepted, in bytes. Default 10 MiB. */
  readonly maxPayloadBytes?: number | undefined
  /** The object kinds kept; others are dropped. Default `flag` and `segment`. */
  readonly kinds?: ReadonlySet<string> | undefined
}

/** `Options` with every default filled in. */
export interface Endpoints {
  readonly streamUrl: string
  readonly pollUrl: string
  readonly fdv1Url: string
  readonly headers: Readonly<Record<string, string>>
  readonly handler: ProtocolHandler.Options & Protocol.DecodeOptions
}

/** Resolves `options` against the defaults. */
export const resolve = (options: Options): Endpoints => {
  const base = options.baseUrl.endsWith("/") ? options.baseUrl : `${options.baseUrl}/`
  const url = (path: string) => new URL(path.replace(/^\//, ""), base).toString()
  return {
    streamUrl: url(options.streamPath ?? "/sdk/stream"),
    pollUrl: url(options.pollPath ?? "/sdk/poll"),
    fdv1Url: url(options.fdv1Path ?? "/sdk/latest-all"),
    headers: options.headers ?? {},
    handler: {
      kinds: options.kinds ?? ProtocolHandler.defaultOptions.kinds,
      maxPayloadBytes: options.maxPayloadBytes ?? Protocol.defaultDecodeOptions.maxPayloadBytes
    }
  }
}
