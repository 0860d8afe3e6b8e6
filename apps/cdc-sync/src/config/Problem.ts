/**
 * A configuration problem found against the live database: where it is in the file, what is
 * wrong and how to fix it. `ConfigInvalid` carries all of them at once, so one run of
 * `validate-config` lists everything to fix.
 */
import { Data } from "effect"

/** One problem: `at` is the path in the configuration file (or `source`/`server` for the database itself). */
export interface Problem {
  readonly at: string
  readonly problem: string
  readonly fix: string
}

/** Builds a problem. */
export const make = (at: string, problem: string, fix: string): Problem => ({ at, problem, fix })

/** Formats a problem as two lines for people. */
export const format = (problem: Problem): string =>
  `${problem.at}: ${problem.problem}\n    fix: ${problem.fix}`

/** The configuration does not fit the database; nothing was written. */
export class ConfigInvalid extends Data.TaggedError("ConfigInvalid")<{
  readonly problems: ReadonlyArray<Problem>
}> {
  override get message(): string {
    return [
      `The configuration does not fit the database (${this.problems.length} problem${this.problems.length === 1 ? "" : "s"}; nothing was written):`,
      ...this.problems.map((problem) => `  ${format(problem)}`)
    ].join("\n")
  }
}
