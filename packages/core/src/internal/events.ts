/** Reads the conventional shape of app events (tagged unions) without assuming it. */

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null

/** The event's `_tag`, or `typeof event` for an untagged value. */
export const eventTag = (event: unknown): string =>
  isRecord(event) && typeof event._tag === "string" ? event._tag : typeof event

/** The event's own fields other than `_tag` (none for a primitive). */
export const eventFields = (event: unknown): Record<string, unknown> => {
  if (!isRecord(event)) return { value: event }
  const { _tag, ...fields } = event
  return fields
}
