/**
 * What one transferred FDv2 payload asks of a store.
 *
 * - `Full`: the complete data; it replaces everything the store holds.
 * - `Partial`: puts and deletes to apply on top of what the store holds.
 * - `None`: the data is already current (intent `none`, or HTTP 304 on a poll); the selector is kept.
 *
 * `Full` and `Partial` carry the selector the payload ended at.
 */
import { Data } from "effect"
import type { Selector } from "./Selector.js"

/** A put or delete of one object, identified by `kind` and `key`, at `version`. */
export type Update = Data.TaggedEnum<{
  Put: { readonly kind: string; readonly key: string; readonly version: number; readonly object: unknown }
  Delete: { readonly kind: string; readonly key: string; readonly version: number }
}>

/** Constructors, guards and a matcher for `Update`. */
export const Update = Data.taggedEnum<Update>()

/** The outcome of one transferred payload: `Full`, `Partial` or `None`. */
export type ChangeSet = Data.TaggedEnum<{
  Full: { readonly selector: Selector; readonly updates: ReadonlyArray<Update> }
  Partial: { readonly selector: Selector; readonly updates: ReadonlyArray<Update> }
  None: Record<never, never>
}>

/** Constructors, guards and a matcher for `ChangeSet`. */
export const ChangeSet = Data.taggedEnum<ChangeSet>()

/** The `None` change set: nothing to apply, keep the current selector. */
export const none: ChangeSet = ChangeSet.None()
