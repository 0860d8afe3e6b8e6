/** FDv2 change sets: `Full`, `Partial`, `None` of puts and deletes by kind and key. */
export * as ChangeSet from "./ChangeSet.js"
/** The FDv1 fallback directive from response headers or a goodbye's `protocolFallbackTTL`. */
export * as FallbackDirective from "./FallbackDirective.js"
/** FDv2 wire events and their decoding from SSE pairs and polling bodies, with categorized errors. */
export * as Protocol from "./Protocol.js"
/** The per-connection FDv2 state machine: one event in, one action out. */
export * as ProtocolHandler from "./ProtocolHandler.js"
/** The `(state, version)` selector and its `basis` query parameter. */
export * as Selector from "./Selector.js"
/** The contract between the orchestrator and its initializers and synchronizers. */
export * as Source from "./Source.js"
/** An immutable in-memory flag store applying change sets under version rules. */
export * as Store from "./Store.js"
/** Connection modes, their tables of initializers / synchronizers / FDv1 tier, and the source factory seam. */
export * as ConnectionMode from "./ConnectionMode.js"
/** The data system's sanitized status: initializing, valid, interrupted, offline (with a detail), shutdown, closed. */
export * as DataStatus from "./DataStatus.js"
/** A flag store kept current by the orchestrator in the current connection mode; identify, switchMode, waitForInitialization. */
export * as DataSystem from "./DataSystem.js"
/** The resolution table: network, background, `runInBackground`, foreground mode; the override beats it. */
export * as ModeResolution from "./ModeResolution.js"
/** Platform signals → debounced mode resolution on the core `Debouncer`. */
export * as ModeSignals from "./ModeSignals.js"
/** Initializer chain, synchronizer slots, fallback / recovery / recycle, the FDv1 tier and halting. */
export * as Orchestrator from "./Orchestrator.js"
/** The flag relay: a data system against an upstream, a cache file, the flags API and the status server. */
export * as Relay from "./relay/Relay.js"
/** The relay's config file (YAML or JSON), validated with Schema. */
export * as RelayConfig from "./relay/RelayConfig.js"
