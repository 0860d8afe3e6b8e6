/**
 * The hash of an instance template: the same template always hashes the same (keys are sorted),
 * and an instance whose hash differs from its group's has drifted and is rotated.
 */
import * as Crypto from "node:crypto"

const canonical = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(canonical)
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(
      Object.entries(value)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([key, inner]) => [key, canonical(inner)])
    )
  }
  return value
}

/** A short, stable hash of `template` (the first 16 hex digits of its SHA-256). */
export const of = (template: Readonly<Record<string, unknown>>): string =>
  Crypto.createHash("sha256")
    .update(JSON.stringify(canonical(template)))
    .digest("hex")
    .slice(0, 16)
