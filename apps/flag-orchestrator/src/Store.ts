/**
 * An in-memory flag store: objects by kind and key, each with a version, plus the current selector.
 *
 * A store is an immutable value (persistent maps), so a `Ref` or `SubscriptionRef` can hold it and
 * readers always see a whole change set or none of it. Version rules: a put or delete whose version is
 * not newer than the stored one (deleted objects keep their version as a tombstone) is ignored. A
 * `Full` change set replaces everything the store holds; a `Partial` one applies on top; `None`
 * changes nothing. `Full` and `Partial` adopt the change set's selector (an empty one clears it).
 */
import { HashMap, Option } from "effect"
import type * as ChangeSet from "./ChangeSet.js"
import * as Selector from "./Selector.js"

/** One stored object at `version`; `object` is `None` once deleted (a tombstone). */
export interface Item {
  readonly version: number
  readonly object: Option.Option<unknown>
}

/** The store's contents: kind → key → item, and the selector of the last applied payload. */
export interface Store {
  readonly kinds: HashMap.HashMap<string, HashMap.HashMap<string, Item>>
  readonly selector: Selector.Selector
}

/** An empty store with the empty selector. */
export const empty: Store = { kinds: HashMap.empty(), selector: Selector.empty }

/** The result of applying a change set: the new store and the updates that took effect, in order. */
export interface Applied {
  readonly store: Store
  readonly applied: ReadonlyArray<ChangeSet.Update>
}

const itemOf = (update: ChangeSet.Update): Item => ({
  version: update.version,
  object: update._tag === "Put" ? Option.some(update.object) : Option.none()
})

const applyUpdates = (
  kinds: HashMap.HashMap<string, HashMap.HashMap<string, Item>>,
  updates: ReadonlyArray<ChangeSet.Update>
): {
  readonly kinds: HashMap.HashMap<string, HashMap.HashMap<string, Item>>
  readonly applied: Array<ChangeSet.Update>
} => {
  const applied: Array<ChangeSet.Update> = []
  const next = HashMap.mutate(kinds, (mutable) => {
    for (const update of updates) {
      const items = Option.getOrElse(HashMap.get(mutable, update.kind), () => HashMap.empty<string, Item>())
      const current = HashMap.get(items, update.key)
      if (Option.isSome(current) && current.value.version >= update.version) continue
      HashMap.set(mutable, update.kind, HashMap.set(items, update.key, itemOf(update)))
      applied.push(update)
    }
  })
  return { kinds: next, applied }
}

/** Applies `changeSet` to `store` under the version rules; never mutates `store`. */
export const apply = (store: Store, changeSet: ChangeSet.ChangeSet): Applied => {
  switch (changeSet._tag) {
    case "None":
      return { store, applied: [] }
    case "Full": {
      const { kinds, applied } = applyUpdates(HashMap.empty(), changeSet.updates)
      return { store: { kinds, selector: changeSet.selector }, applied }
    }
    case "Partial": {
      const { kinds, applied } = applyUpdates(store.kinds, changeSet.updates)
      return { store: { kinds, selector: changeSet.selector }, applied }
    }
  }
}

/** The live (not deleted) object of `kind` and `key`, with its version. */
export const get = (
  store: Store,
  kind: string,
  key: string
): Option.Option<{ readonly version: number; readonly object: unknown }> =>
  HashMap.get(store.kinds, kind).pipe(
    Option.flatMap((items) => HashMap.get(items, key)),
    Option.flatMap((item) => Option.map(item.object, (object) => ({ version: item.version, object })))
  )

/** Every live object of `kind`, by key. */
export const all = (store: Store, kind: string): ReadonlyMap<string, unknown> => {
  const live = new Map<string, unknown>()
  for (const [key, item] of Option.getOrElse(HashMap.get(store.kinds, kind), () =>
    HashMap.empty<string, Item>()
  )) {
    if (Option.isSome(item.object)) live.set(key, item.object.value)
  }
  return live
}
