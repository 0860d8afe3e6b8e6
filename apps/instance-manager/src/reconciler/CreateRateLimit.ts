/**
 * The global create rate limit: one token bucket all groups' creates take from, first come first
 * served, so one busy group cannot starve the others forever. Waits are reported (head-of-line
 * blocking shows as `converge_instances_create_wait_seconds` and in the status).
 */
import { Context, Duration, Effect, Layer, Metric, MetricBoundaries } from "effect"
import type { CreateRateLimitConfig } from "../config/ManagerConfig.js"
import * as TokenBucket from "../internal/TokenBucket.js"

/** Time creates waited for the global rate limit. */
export const createWaitSeconds = Metric.histogram(
  "converge_instances_create_wait_seconds",
  MetricBoundaries.exponential({ start: 0.01, factor: 2, count: 14 }),
  "Time a create waited for the global create rate limit"
)

/** The CreateRateLimit service. */
export class CreateRateLimit extends Context.Tag("@converge/instance-manager/CreateRateLimit")<
  CreateRateLimit,
  CreateRateLimit.Service
>() {}

/** The types of the CreateRateLimit service. */
export declare namespace CreateRateLimit {
  /** Waits for a create token. */
  export interface Service {
    /** Takes a token, waiting for it if needed; returns the wait. */
    readonly take: Effect.Effect<Duration.Duration>
  }
}

/** A create rate limit of `burst` tokens refilled at `perSecond`, on Effect's clock. */
export const make = (config: CreateRateLimitConfig): Effect.Effect<CreateRateLimit.Service> =>
  Effect.map(TokenBucket.make(config), (bucket) => ({
    take: Effect.tap(bucket.take, (waited) => Metric.update(createWaitSeconds, Duration.toSeconds(waited)))
  }))

/** The CreateRateLimit service from its config. */
export const layer = (config: CreateRateLimitConfig): Layer.Layer<CreateRateLimit> =>
  Layer.effect(CreateRateLimit, make(config))
