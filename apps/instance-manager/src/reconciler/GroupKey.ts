/**
 * The controller's key for a group: `tenant/group`. One key per group gives per-group
 * exclusivity (the core `Controller` never runs a key twice at once).
 */

/** A group's key, `tenant/group`. */
export type GroupKey = string

/** The key of `group` in `tenant`. */
export const make = (tenant: string, group: string): GroupKey => `${tenant}/${group}`

/** The tenant and group of `key` (the tenant never contains `/`; the group may). */
export const parse = (key: GroupKey): { readonly tenant: string; readonly group: string } => {
  const slash = key.indexOf("/")
  return slash < 0
    ? { tenant: "default", group: key }
    : { tenant: key.slice(0, slash), group: key.slice(slash + 1) }
}
