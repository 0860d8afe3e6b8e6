/**
 * The hooks a user configures: `notifyDrain` when an instance starts draining (tell the workload
 * to move off; acknowledge with `DrainAcked`), `notifyError` for every failed create, delete or
 * provider call. The default logs both; the manager also folds them into its status.
 */
import { Context, Effect, Layer } from "effect"

/** An instance started draining: it is deleted at `deleteAt` unless acknowledged sooner. */
export interface NotifyDrain {
  readonly tenant: string
  readonly group: string
  readonly instanceId: string
  readonly reason: string
  readonly unhealthyAt: Date | null
  readonly deleteAt: Date
}

/** Something failed; `instanceId` is empty when the failure is the group's (e.g. a create). */
export interface NotifyError {
  readonly tenant: string
  readonly group: string
  readonly instanceId: string
  readonly message: string
  readonly at: Date
}

/** The Notifier service. */
export class Notifier extends Context.Tag("@converge/instance-manager/Notifier")<
  Notifier,
  Notifier.Service
>() {}

/** The types of the Notifier service. */
export declare namespace Notifier {
  /** The two hooks; neither may fail (a hook that can fail reports its own failure). */
  export interface Service {
    readonly notifyDrain: (drain: NotifyDrain) => Effect.Effect<void>
    readonly notifyError: (error: NotifyError) => Effect.Effect<void>
  }
}

/** Logs drains at info and errors at error level. */
export const logging: Notifier.Service = {
  notifyDrain: (drain) =>
    Effect.logInfo("drain started").pipe(
      Effect.annotateLogs({
        group: `${drain.tenant}/${drain.group}`,
        instance: drain.instanceId,
        reason: drain.reason,
        deleteAt: drain.deleteAt.toISOString()
      })
    ),
  notifyError: (error) =>
    Effect.logError(error.message).pipe(
      Effect.annotateLogs({ group: `${error.tenant}/${error.group}`, instance: error.instanceId })
    )
}

/** Both notifiers in turn. */
export const both = (first: Notifier.Service, second: Notifier.Service): Notifier.Service => ({
  notifyDrain: (drain) => Effect.zipRight(first.notifyDrain(drain), second.notifyDrain(drain)),
  notifyError: (error) => Effect.zipRight(first.notifyError(error), second.notifyError(error))
})

/** The logging notifier as a layer. */
export const layerLogging: Layer.Layer<Notifier> = Layer.succeed(Notifier, logging)
