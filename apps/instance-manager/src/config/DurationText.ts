/**
 * Durations in config files: a number of seconds (`90`) or a number with a unit
 * (`"500ms"`, `"30s"`, `"5m"`, `"2h"`, `"1d"`), decoded to an Effect `Duration`.
 */
import { Duration, ParseResult, Schema } from "effect"

const pattern = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/
const unitMillis: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000
}

/** A non-negative duration written as seconds or as `<number><ms|s|m|h|d>`. */
export const DurationText = Schema.transformOrFail(
  Schema.Union(Schema.Number, Schema.String),
  Schema.DurationFromSelf,
  {
    strict: true,
    decode: (input, _, ast) => {
      if (typeof input === "number") {
        return Number.isFinite(input) && input >= 0
          ? ParseResult.succeed(Duration.seconds(input))
          : ParseResult.fail(
              new ParseResult.Type(ast, input, `expected a non-negative number of seconds, got ${input}`)
            )
      }
      const match = pattern.exec(input)
      const amount = match?.[1]
      const unit = match?.[2]
      return amount === undefined || unit === undefined
        ? ParseResult.fail(
            new ParseResult.Type(
              ast,
              input,
              `expected a duration such as 90, "500ms", "30s", "5m", "2h" or "1d", got "${input}"`
            )
          )
        : ParseResult.succeed(Duration.millis(Number(amount) * (unitMillis[unit] ?? 1)))
    },
    encode: (duration) => ParseResult.succeed(`${Duration.toMillis(duration)}ms`)
  }
)
