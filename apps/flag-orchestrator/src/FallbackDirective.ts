/**
 * The FDv1 fallback directive: the server telling an FDv2 client to use the FDv1 protocol instead.
 *
 * It arrives as response headers (`x-ld-fd-fallback: true`, optional `x-ld-fd-fallback-ttl` in
 * seconds) or in band as a `goodbye` event's `protocolFallbackTTL`. The TTL says how long to stay on
 * FDv1 before trying FDv2 again: absent → 1 hour; 0 → stay on FDv1; negative → clamped to 0.
 */
import { Data, Duration, Option } from "effect"

/** A fallback directive: switch to FDv1; when `ttl` is zero, stay there; otherwise retry FDv2 after `ttl`. */
export class FallbackDirective extends Data.Class<{ readonly ttl: Duration.Duration }> {}

/** The header that carries the directive (`true` engages it). */
export const fallbackHeader = "x-ld-fd-fallback"

/** The header that carries the directive's TTL in seconds. */
export const fallbackTtlHeader = "x-ld-fd-fallback-ttl"

/** The TTL when the server gives none: one hour. */
export const defaultTtl: Duration.Duration = Duration.hours(1)

/** A directive with `ttlSeconds` (negative clamped to 0); a missing or non-numeric TTL gives `defaultTtl`. */
export const make = (ttlSeconds: number | undefined): FallbackDirective =>
  new FallbackDirective({
    ttl:
      ttlSeconds === undefined || !Number.isFinite(ttlSeconds)
        ? defaultTtl
        : Duration.seconds(Math.max(0, ttlSeconds))
  })

/** True when the directive means "stay on FDv1" (a zero TTL). */
export const staysOnFdv1 = (directive: FallbackDirective): boolean => Duration.isZero(directive.ttl)

/** Response headers as a lower- or mixed-case record; repeated headers may come as arrays. */
export type HeaderRecord = Readonly<Record<string, string | ReadonlyArray<string> | undefined>>

const headerValue = (headers: HeaderRecord, name: string): string | undefined => {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name) return typeof value === "string" ? value : value?.[0]
  }
  return undefined
}

const parseTtlSeconds = (text: string | undefined): number | undefined => {
  if (text === undefined || text.trim() === "") return undefined
  const seconds = Number(text.trim())
  return Number.isFinite(seconds) ? seconds : undefined
}

/** The directive in `headers`, if `x-ld-fd-fallback` is `true` (case-insensitive). */
export const fromHeaders = (headers: HeaderRecord): Option.Option<FallbackDirective> =>
  headerValue(headers, fallbackHeader)?.trim().toLowerCase() === "true"
    ? Option.some(make(parseTtlSeconds(headerValue(headers, fallbackTtlHeader))))
    : Option.none()

/** The directive carried by a goodbye's `protocolFallbackTTL` (seconds), if it has one. */
export const fromGoodbye = (
  protocolFallbackTtlSeconds: Option.Option<number>
): Option.Option<FallbackDirective> => Option.map(protocolFallbackTtlSeconds, make)
