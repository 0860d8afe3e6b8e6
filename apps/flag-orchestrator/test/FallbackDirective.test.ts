import { describe, expect, it } from "@effect/vitest"
import { Duration, Option } from "effect"
import * as FallbackDirective from "../src/FallbackDirective.js"

const ttlOf = (directive: Option.Option<FallbackDirective.FallbackDirective>): number =>
  Duration.toSeconds(Option.getOrThrow(directive).ttl)

describe("FallbackDirective.fromHeaders", () => {
  it("is absent without x-ld-fd-fallback: true", () => {
    expect(Option.isNone(FallbackDirective.fromHeaders({}))).toBe(true)
    expect(Option.isNone(FallbackDirective.fromHeaders({ "x-ld-fd-fallback": "false" }))).toBe(true)
    expect(Option.isNone(FallbackDirective.fromHeaders({ "x-ld-fd-fallback-ttl": "60" }))).toBe(true)
  })

  it("defaults the TTL to one hour when the TTL header is absent or not a number", () => {
    expect(ttlOf(FallbackDirective.fromHeaders({ "x-ld-fd-fallback": "true" }))).toBe(3600)
    expect(
      ttlOf(FallbackDirective.fromHeaders({ "x-ld-fd-fallback": "true", "x-ld-fd-fallback-ttl": "soon" }))
    ).toBe(3600)
  })

  it("reads the TTL in seconds, case-insensitively, from a header array too", () => {
    expect(
      ttlOf(FallbackDirective.fromHeaders({ "X-LD-FD-Fallback": "TRUE", "X-LD-FD-Fallback-TTL": ["120"] }))
    ).toBe(120)
  })

  it("stays on FDv1 with TTL 0 and clamps a negative TTL to 0", () => {
    const stay = Option.getOrThrow(
      FallbackDirective.fromHeaders({ "x-ld-fd-fallback": "true", "x-ld-fd-fallback-ttl": "0" })
    )
    expect(FallbackDirective.staysOnFdv1(stay)).toBe(true)
    const negative = Option.getOrThrow(
      FallbackDirective.fromHeaders({ "x-ld-fd-fallback": "true", "x-ld-fd-fallback-ttl": "-30" })
    )
    expect(Duration.toMillis(negative.ttl)).toBe(0)
    expect(FallbackDirective.staysOnFdv1(negative)).toBe(true)
    expect(FallbackDirective.staysOnFdv1(FallbackDirective.make(undefined))).toBe(false)
  })
})

describe("FallbackDirective.fromGoodbye", () => {
  it("engages only when the goodbye carries protocolFallbackTTL, with the same TTL rules", () => {
    expect(Option.isNone(FallbackDirective.fromGoodbye(Option.none()))).toBe(true)
    expect(ttlOf(FallbackDirective.fromGoodbye(Option.some(90)))).toBe(90)
    expect(ttlOf(FallbackDirective.fromGoodbye(Option.some(-5)))).toBe(0)
  })
})
