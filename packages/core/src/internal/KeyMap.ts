import { Equal, MutableHashMap, Option } from "effect"

/**
 * A mutable map keyed by Effect equality: keys implementing `Equal` (e.g. `Data` structs) are
 * compared by `Equal`/`Hash`, others (strings, numbers) by a native `Map`. Unlike `MutableHashMap`
 * it returns `undefined` for a missing key instead of allocating an `Option`: the work queue calls
 * it on every add.
 */
export class KeyMap<K, V> {
  private readonly native = new Map<K, V>()
  private readonly hashed = MutableHashMap.empty<K, V>()

  get(key: K): V | undefined {
    return Equal.isEqual(key)
      ? Option.getOrUndefined(MutableHashMap.get(this.hashed, key))
      : this.native.get(key)
  }

  set(key: K, value: V): void {
    if (Equal.isEqual(key)) MutableHashMap.set(this.hashed, key, value)
    else this.native.set(key, value)
  }

  delete(key: K): void {
    if (Equal.isEqual(key)) MutableHashMap.remove(this.hashed, key)
    else this.native.delete(key)
  }

  values(): Array<V> {
    return [...this.native.values(), ...MutableHashMap.values(this.hashed)]
  }
}
