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
