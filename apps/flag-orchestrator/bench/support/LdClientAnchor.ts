/**
 * The benchmark anchor: `@launchdarkly/js-client-sdk-common`'s FDv2 data system (LDClientImpl with
 * `createFDv2DataManagerBase`, the default source factory and mode table) driven against the local
 * serve-fdv2 over real HTTP, through the package's public exports only. Node 20 has no
 * `EventSource`, so this file supplies the `Platform` a Node client needs: `fetch`, an SSE
 * `EventSource` over `fetch` (parsed with `@effect/experimental`'s SSE parser), hashing and UUIDs.
 * The server's `/sdk/stream/eval/:context` and `/sdk/poll/eval/:context` serve the same flags as
 * `flag-eval` objects, the client-side variant this SDK speaks.
 */
import { createHash, randomUUID } from "node:crypto"
import { Sse } from "@effect/experimental"
import {
  createDefaultSourceFactoryProvider,
  createFDv2DataManagerBase,
  DESKTOP_DATA_SYSTEM_DEFAULTS,
  DESKTOP_TRANSITION_TABLE,
  LDClientImpl,
  MODE_TABLE,
  resolveForegroundMode
} from "@launchdarkly/js-client-sdk-common"

// The platform types below mirror `@launchdarkly/js-sdk-common`'s (`Platform`, `EventSource`, …): its
// ESM declarations re-export them without file extensions, which NodeNext resolution cannot follow.

interface HttpErrorResponse {
  readonly message: string
  readonly status?: number
}
type Listener = (event?: { data?: unknown }) => void
interface EventSourceInit {
  readonly method?: string
  readonly headers: { [key: string]: string | Array<string> }
  readonly body?: string
  readonly errorFilter: (err: HttpErrorResponse) => boolean
  readonly initialRetryDelayMillis: number
  readonly urlBuilder?: () => string
}
interface Hasher {
  update(data: string): Hasher
  digest?(encoding: string): string
}
interface RequestOptions {
  readonly method?: string
  readonly headers?: Record<string, string>
  readonly body?: string
}

/** `AutoEnvAttributes.Disabled` (a runtime enum of the SDK). */
const autoEnvAttributesDisabled = 0

/** A minimal SSE `EventSource` over `fetch`, reconnecting after `initialRetryDelayMillis`. */
class FetchEventSource {
  onclose: (() => void) | undefined
  onerror: ((err?: HttpErrorResponse) => void) | undefined
  onopen: ((e: { headers?: { [key: string]: string } }) => void) | undefined
  onretrying: ((e: { delayMillis: number }) => void) | undefined
  private readonly listeners = new Map<string, Array<Listener>>()
  private readonly controller = new AbortController()
  private closed = false

  constructor(
    private readonly url: string,
    private readonly init: EventSourceInit
  ) {
    setTimeout(() => void this.connect(), 0)
  }

  addEventListener(type: string, listener: Listener): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener])
  }

  close(): void {
    this.closed = true
    this.controller.abort()
    this.onclose?.()
  }

  private async connect(): Promise<void> {
    while (!this.closed) {
      try {
        const headers: Record<string, string> = {}
        for (const [key, value] of Object.entries(this.init.headers)) {
          headers[key] = Array.isArray(value) ? value.join(", ") : value
        }
        const response = await fetch(this.init.urlBuilder?.() ?? this.url, {
          method: this.init.method ?? "GET",
          headers,
          ...(this.init.body === undefined ? {} : { body: this.init.body }),
          signal: this.controller.signal
        })
        if (!response.ok || response.body === null) {
          const error = { status: response.status, message: `HTTP ${response.status}` }
          this.onerror?.(error)
          if (!this.init.errorFilter(error)) return this.close()
        } else {
          this.onopen?.({ headers: Object.fromEntries(response.headers.entries()) })
          const parser = Sse.makeParser((event) => {
            if (event._tag !== "Event") return
            for (const listener of this.listeners.get(event.event) ?? []) listener({ data: event.data })
          })
          const decoder = new TextDecoder()
          for await (const chunk of response.body) {
            const text = decoder.decode(chunk, { stream: true })
            let start = 0
            while (start < text.length) {
              const newline = text.indexOf("\n", start)
              const end = newline === -1 ? text.length : newline + 1
              parser.feed(text.slice(start, end))
              start = end
            }
          }
        }
      } catch {
        if (this.closed) return
        this.onerror?.({ message: "network error" })
      }
      if (this.closed) return
      this.onretrying?.({ delayMillis: this.init.initialRetryDelayMillis })
      await new Promise((resolve) => setTimeout(resolve, this.init.initialRetryDelayMillis))
    }
  }
}

const nodePlatform = {
  info: {
    platformData: () => ({ name: "converge-bench" }),
    sdkData: () => ({ name: "converge-bench", version: "0.0.0" })
  },
  crypto: {
    createHash: (algorithm: string) => {
      const hash = createHash(algorithm)
      const hasher: Hasher = {
        update: (data: string) => {
          hash.update(data)
          return hasher
        },
        digest: (encoding: string) => hash.digest(encoding as "hex" | "base64")
      }
      return hasher
    },
    randomUUID
  },
  requests: {
    fetch: (url: string, options?: RequestOptions) =>
      fetch(url, {
        ...(options?.method === undefined ? {} : { method: options.method }),
        ...(options?.headers === undefined ? {} : { headers: options.headers }),
        ...(options?.body === undefined ? {} : { body: options.body })
      }),
    createEventSource: (url: string, init: EventSourceInit) => new FetchEventSource(url, init),
    getEventSourceCapabilities: () => ({ readTimeout: false, headers: true, customMethod: true })
  },
  encoding: { btoa: (text: string) => Buffer.from(text, "binary").toString("base64") }
}

const silentLogger = {
  error: () => undefined,
  warn: () => undefined,
  info: () => undefined,
  debug: () => undefined
}

// The SDK's own declarations of these parameters do not resolve under NodeNext (see above).
const dataManagerFactory = (
  flagManager: never,
  configuration: { readonly dataSystem?: unknown },
  baseHeaders: never,
  emitter: never
) =>
  createFDv2DataManagerBase({
    platform: nodePlatform as never,
    flagManager,
    credential: "bench-client-side-id",
    config: configuration,
    baseHeaders,
    emitter,
    transitionTable: DESKTOP_TRANSITION_TABLE,
    foregroundMode: resolveForegroundMode(
      (configuration.dataSystem ?? {}) as never,
      DESKTOP_DATA_SYSTEM_DEFAULTS
    ),
    backgroundMode: undefined,
    modeTable: MODE_TABLE,
    sourceFactoryProvider: createDefaultSourceFactoryProvider(),
    buildQueryParams: () => []
  })

/** An LD client-side SDK core on the FDv2 data system, streaming from `url`; `identify` starts it. */
export const makeClient = (url: string): LDClientImpl =>
  new LDClientImpl(
    "bench-client-side-id",
    autoEnvAttributesDisabled as never,
    nodePlatform as never,
    {
      baseUri: url,
      streamUri: url,
      sendEvents: false,
      diagnosticOptOut: true,
      logger: silentLogger,
      dataSystem: { initialConnectionMode: "streaming" }
    } as never,
    dataManagerFactory as never,
    {
      dataSystemDefaults: DESKTOP_DATA_SYSTEM_DEFAULTS,
      getImplementationHooks: () => [],
      credentialType: "clientSideId"
    } as never
  )
