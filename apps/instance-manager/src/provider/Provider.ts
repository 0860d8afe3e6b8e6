/**
 * The seam between the manager and a cloud: create, delete, describe and list instances, and a
 * stream of termination notices. Errors are classified so the manager knows what to retry:
 * `ProviderRetryableError` (try again by policy), `ProviderThrottledError` (try again after
 * `retryAfter`), `ProviderPermanentError` (never retried; reported).
 *
 * ```text
 *   GroupReconciler ──create / delete / describe / list / listAll──▶ Provider ──▶ simulated | process
 *   TerminationNotices ◀────────────────────── terminationNotices ◀───┘
 * ```
 */
import { Context, Data, type Duration, type Effect, type Option, type Stream } from "effect"

/** An instance's state as the provider sees it. `stopped`, `terminated` and `failed` are terminal. */
export type ProviderState = "pending" | "running" | "stopped" | "terminated" | "failed"

/** Whether `state` means the instance will never serve again. */
export const isTerminal = (state: ProviderState): boolean =>
  state === "stopped" || state === "terminated" || state === "failed"

/** What the manager asks a provider to create: its own instance id travels with it, so `list` can match it. */
export interface CreateRequest {
  readonly instanceId: string
  readonly tenant: string
  readonly group: string
  readonly template: Readonly<Record<string, unknown>>
  readonly templateHash: string
}

/** An instance as a provider describes it. */
export interface ProviderInstance {
  readonly providerId: string
  readonly instanceId: string
  readonly tenant: string
  readonly group: string
  readonly state: ProviderState
  readonly templateHash: string
  /** Epoch milliseconds. */
  readonly createdAt: number
}

/** One page of `listAll`: the instances, and the token of the next page (`undefined` on the last one). */
export interface ProviderPage {
  readonly instances: ReadonlyArray<ProviderInstance>
  readonly nextPageToken: string | undefined
}

/** The provider announced that an instance will be taken away soon (e.g. a spot interruption). */
export interface TerminationNoticeSignal {
  readonly providerId: string
  readonly instanceId: string
  readonly tenant: string
  readonly group: string
  /** When the instance will be taken away, epoch milliseconds. */
  readonly terminatesAt: number
}

/** A provider call failed in a way that may pass: retry it by policy. */
export class ProviderRetryableError extends Data.TaggedError("ProviderRetryableError")<{
  readonly operation: string
  readonly message: string
}> {}

/** The provider refused a call for good (bad template, quota exhausted): never retried, always reported. */
export class ProviderPermanentError extends Data.TaggedError("ProviderPermanentError")<{
  readonly operation: string
  readonly message: string
}> {}

/** The provider's API rate limit refused the call; it may be tried again after `retryAfter`. */
export class ProviderThrottledError extends Data.TaggedError("ProviderThrottledError")<{
  readonly operation: string
  readonly retryAfter: Duration.Duration
  readonly message: string
}> {}

/** Any provider failure. */
export type ProviderError = ProviderRetryableError | ProviderPermanentError | ProviderThrottledError

/** The Provider service. */
export class Provider extends Context.Tag("@converge/instance-manager/Provider")<
  Provider,
  Provider.Service
>() {}

/** The types of the Provider service. */
export declare namespace Provider {
  /** What every provider offers. */
  export interface Service {
    /** The provider's name, for logs and status. */
    readonly name: string
    /** Creates an instance; it starts `pending` and becomes `running` once booted. */
    readonly create: (request: CreateRequest) => Effect.Effect<ProviderInstance, ProviderError>
    /** Deletes an instance; deleting one that is already gone succeeds. */
    readonly delete: (providerId: string) => Effect.Effect<void, ProviderError>
    /** Describes an instance; `None` when the provider no longer knows it (gone). */
    readonly describe: (providerId: string) => Effect.Effect<Option.Option<ProviderInstance>, ProviderError>
    /** Every instance the provider holds for a group. */
    readonly list: (
      tenant: string,
      group: string
    ) => Effect.Effect<ReadonlyArray<ProviderInstance>, ProviderError>
    /**
     * Every instance the provider holds for this manager (all groups), one page per call, as a
     * cloud's tag-filtered paginated listing (EC2 DescribeInstances with filters): one API call
     * per page. Pass the previous page's `nextPageToken` to get the next one.
     */
    readonly listAll: (pageToken: string | undefined) => Effect.Effect<ProviderPage, ProviderError>
    /** Termination notices as they arrive. */
    readonly terminationNotices: Stream.Stream<TerminationNoticeSignal>
  }
}
