import { describe, expect, it } from "@effect/vitest"
import * as Lsn from "../src/capture/Lsn.js"

describe("Lsn", () => {
  it("parses and formats Postgres' X/Y form", () => {
    expect(Lsn.parse("16/B374D848")).toBe(0x16b374d848n)
    expect(Lsn.format(0x16b374d848n)).toBe("16/B374D848")
    expect(Lsn.format(Lsn.parse("0/0")!)).toBe("0/0")
    expect(Lsn.parse("ffffffff/ffffffff")).toBe(2n ** 64n - 1n)
    expect(Lsn.parse("nope")).toBeUndefined()
    expect(Lsn.parse("1/2/3")).toBeUndefined()
    expect(Lsn.max(3n, 7n)).toBe(7n)
  })
})
