/**
 * The pages' code samples are real files: every `<<< @/…` embed points at an existing file (and
 * region), no page carries TypeScript of its own, and every example is shown somewhere.
 */
import { readdirSync, readFileSync } from "node:fs"
import { join, relative } from "node:path"
import { describe, expect, it } from "@effect/vitest"

const docsRoot = join(import.meta.dirname, "..")

const filesUnder = (directory: string, keep: (path: string) => boolean): ReadonlyArray<string> =>
  readdirSync(join(docsRoot, directory), { recursive: true, encoding: "utf8" })
    .map((path) => join(directory, path))
    .filter(keep)

const pages = [
  "index.md",
  ...["guide", "primitives", "packages", "apps"].flatMap((directory) =>
    filesUnder(directory, (path) => path.endsWith(".md"))
  ),
  "performance.md"
]

interface Embed {
  readonly page: string
  readonly file: string
  readonly region: string | undefined
}

const embeds: ReadonlyArray<Embed> = pages.flatMap((page) =>
  readFileSync(join(docsRoot, page), "utf8")
    .split("\n")
    .flatMap((line) => {
      const match = /^<<< @\/([^\s#{[]+)(?:#([\w-]+))?/.exec(line.trim())
      return match === null ? [] : [{ page, file: match[1]!, region: match[2] }]
    })
)

describe("documentation pages", () => {
  it("embed files (and regions) that exist", () => {
    expect(embeds.length).toBeGreaterThan(20)
    for (const { page, file, region } of embeds) {
      const lines = readFileSync(join(docsRoot, file), "utf8")
        .split("\n")
        .map((line) => line.trim())
      if (region !== undefined) {
        expect(lines, `${page}: ${file}#${region}`).toContain(`// #region ${region}`)
        expect(lines, `${page}: ${file}#${region}`).toContain(`// #endregion ${region}`)
      }
    }
  })

  it("carry no TypeScript of their own: every sample is a checked, tested file", () => {
    for (const page of pages) {
      const inlineSamples = readFileSync(join(docsRoot, page), "utf8").match(/^```(ts|typescript|js|tsx)\b/gm)
      expect(inlineSamples, page).toBeNull()
    }
  })

  it("show every example", () => {
    const embedded = new Set(embeds.map((embed) => embed.file))
    const examples = filesUnder("examples", (path) => path.endsWith(".ts")).map((path) =>
      relative(docsRoot, join(docsRoot, path))
    )
    expect(examples.filter((example) => !embedded.has(example))).toEqual([])
  })
})
