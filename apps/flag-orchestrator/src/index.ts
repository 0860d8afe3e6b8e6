/** FDv2 change sets: `Full`, `Partial`, `None` of puts and deletes by kind and key. */
export * as ChangeSet from "./ChangeSet.js"
/** Connection modes, their tables of initializers / synchronizers / FDv1 tier, and the source factory seam. */
export * as ConnectionMode from "./ConnectionMode.js"
/** The data system's sanitized status: initializing, valid, interrupted, offline (with a detail), shutdown, closed. */
export * as DataStatus from "./DataStatus.js"
/** A flag store kept current by the orchestrator in the current connection mode; identify, switchMode, waitForInitialization. */
export * as DataSystem from "./DataSystem.js"
/** The FDv1 fallback directive from response headers or a goodbye's `protocolFallbackTTL`. */
export * as FallbackDirective from "./FallbackDirective.js"
/** The resolution table: network, background, `runInBackground`, foreground mode; the override beats it. */
export * as ModeResolution from "./ModeResolution.js"
/** Platform signals → debounced mode resolution on the core `Debouncer`. */
export * as ModeSignals from "./ModeSignals.js"
/** Initializer chain, synchronizer slots, fallback / recovery / recycle, the FDv1 tier and halting. */
export * as Orchestrator from "./Orchestrator.js"
/** FDv2 wire events and their decoding from SSE pairs and polling bodies, with categorized errors. */
export * as Protocol from "./Protocol.js"
/** The per-connection FDv2 state machine: one event in, one action out. */
export * as ProtocolHandler from "./ProtocolHandler.js"
/** The flag relay: a data system against an upstream, a cache file, the flags API and the status server. */
export * as Relay from "./relay/Relay.js"
/** The relay's config file (YAML or JSON), validated with Schema. */
export * as RelayConfig from "./relay/RelayConfig.js"
/** A scripted sequence of flag changes and faults against a `serve-fdv2` admin API (the playground's demo). */
export * as SampleScenario from "./SampleScenario.js"
/** The `(state, version)` selector and its `basis` query parameter. */
export * as Selector from "./Selector.js"
/** The contract between the orchestrator and its initializers and synchronizers. */
export * as Source from "./Source.js"
/** An immutable in-memory flag store applying change sets under version rules. */
export * as Store from "./Store.js"
/** Response faults `serve-fdv2` injects (status, fallback header, invalid polls, latency). */
export * as Faults from "./server/Faults.js"
/** `serve-fdv2`: a local FDv2 server (stream, poll, FDv1) with an admin API for flags and faults. */
export * as Fdv2Server from "./server/Fdv2Server.js"
/** The data `serve-fdv2` serves and the PubSub that streams its changes. */
export * as FlagData from "./server/FlagData.js"
/** The flags file `serve-fdv2 --flags FILE` loads. */
export * as FlagsFile from "./server/FlagsFile.js"
/** What `serve-fdv2` has seen: connections and polls open, most at once, recent `basis` values. */
export * as ServerStats from "./server/ServerStats.js"
/** The relay's cache file: atomic writes of the store, and reading it back. */
export * as CacheFile from "./sources/CacheFile.js"
/** The cache file as an initializer: a Full change set without a selector, or a categorized failure. */
export * as CacheFileInitializer from "./sources/CacheFileInitializer.js"
/** Where the HTTP sources connect: base URL, endpoint paths, headers, decoding limits. */
export * as Endpoints from "./sources/Endpoints.js"
/** The FDv1 fallback tier: `/sdk/latest-all` as a Full change set with the empty selector. */
export * as Fdv1PollingSynchronizer from "./sources/Fdv1PollingSynchronizer.js"
/** The FDv2 polling initializer: one poll with the basis held now. */
export * as PollingInitializer from "./sources/PollingInitializer.js"
/** The FDv2 polling synchronizer: one poll in flight, 304 → None, the FDv1 directive after the payload. */
export * as PollingSynchronizer from "./sources/PollingSynchronizer.js"
/** HTTP and decoding failures as categorized `SourceError`s (401/403/404 terminal, 5xx/400/408/429 transient). */
export * as SourceErrors from "./sources/SourceErrors.js"
/** The FDv2 streaming synchronizer: SSE over HTTP, a handler per connection, reconnect backoff, coalesced pings. */
export * as StreamingSynchronizer from "./sources/StreamingSynchronizer.js"
