/**
 * A strict reader of the Prometheus text exposition format 0.0.4, for tests: every line must be a
 * `# HELP`, `# TYPE`, other comment, blank or sample line of the documented grammar, each family's
 * samples come in one group after its metadata, series are unique, and histograms are well formed
 * (ascending `le` ending in `+Inf`, cumulative counts, `_count` equal to the `+Inf` bucket).
 *
 * No maintained npm parser exists (`parse-prometheus-text-format` is unmaintained, untyped and
 * merges histogram label sets), so the grammar is checked here.
 */
import { Data, Effect } from "effect"

/** One sample line. */
export interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

/** The metric types of the format. */
export type MetricType = "counter" | "gauge" | "histogram" | "summary" | "untyped"

/** A metric family: its metadata and samples. */
export interface Family {
  readonly name: string
  readonly help: string | undefined
  readonly type: MetricType
  readonly samples: ReadonlyArray<Sample>
}

/** The text broke the format; `line` is 1-based. */
export class PrometheusTextError extends Data.TaggedError("PrometheusTextError")<{
  readonly line: number
  readonly reason: string
}> {
  override get message(): string {
    return `line ${this.line}: ${this.reason}`
  }
}

const metricName = "[a-zA-Z_:][a-zA-Z0-9_:]*"
const labelName = "[a-zA-Z_][a-zA-Z0-9_]*"
const labelValue = '"(?:[^"\\\\\\n]|\\\\[\\\\"n])*"'
const floatValue = "[+-]?(?:\\d+(?:\\.\\d*)?|\\.\\d+)(?:[eE][+-]?\\d+)?|[+-]?Inf|NaN"
const helpLine = new RegExp(`^# HELP (${metricName}) ((?:[^\\\\\\n]|\\\\[\\\\n])*)$`)
const typeLine = new RegExp(`^# TYPE (${metricName}) (counter|gauge|histogram|summary|untyped)$`)
const sampleLine = new RegExp(
  `^(${metricName})(?:\\{((?:${labelName}=${labelValue},)*(?:${labelName}=${labelValue})?)\\})? (${floatValue})(?: -?\\d+)?$`
)
const labelPair = new RegExp(`(${labelName})=(${labelValue})`, "g")

const unescapeLabelValue = (quoted: string): string =>
  quoted.slice(1, -1).replace(/\\([\\"n])/g, (_, escaped: string) => (escaped === "n" ? "\n" : escaped))

const parseValue = (text: string): number =>
  text.endsWith("Inf") ? (text.startsWith("-") ? -Infinity : Infinity) : Number(text)

interface MutableFamily {
  name: string
  help: string | undefined
  type: MetricType | undefined
  samples: Array<Sample>
  lastLine: number
}

const familyOf = (families: ReadonlyMap<string, MutableFamily>, sampleName: string): string => {
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    if (sampleName.endsWith(suffix)) {
      const base = sampleName.slice(0, -suffix.length)
      const type = families.get(base)?.type
      if (type === "histogram" || (type === "summary" && suffix !== "_bucket")) {
        return base
      }
    }
  }
  return sampleName
}

const seriesKey = (sample: Sample, without?: string): string =>
  `${sample.name}{${Object.entries(sample.labels)
    .filter(([name]) => name !== without)
    .sort(([left], [right]) => left.localeCompare(right))
    .map(([name, value]) => `${name}=${JSON.stringify(value)}`)
    .join(",")}}`

const checkHistogram = (family: MutableFamily): string | undefined => {
  const buckets = new Map<string, Array<{ readonly le: number; readonly count: number }>>()
  const counts = new Map<string, number>()
  for (const sample of family.samples) {
    if (sample.name === `${family.name}_bucket`) {
      const le = sample.labels.le
      if (le === undefined) return `${sample.name} without an le label`
      const key = seriesKey({ ...sample, name: family.name }, "le")
      buckets.set(key, [...(buckets.get(key) ?? []), { le: parseValue(le), count: sample.value }])
    } else if (sample.name === `${family.name}_count`) {
      counts.set(seriesKey({ ...sample, name: family.name }), sample.value)
    } else if (sample.name !== `${family.name}_sum`) {
      return `histogram ${family.name} has a sample named ${sample.name}`
    }
  }
  for (const [key, series] of buckets) {
    for (let index = 1; index < series.length; index++) {
      const previous = series[index - 1]!
      const current = series[index]!
      if (!(current.le > previous.le)) return `${key}: le ${current.le} does not follow ${previous.le}`
      if (current.count < previous.count) return `${key}: bucket counts are not cumulative`
    }
    const last = series[series.length - 1]
    if (last?.le !== Infinity) return `${key}: no le="+Inf" bucket`
    if (counts.get(key) !== last.count) return `${key}: _count differs from the +Inf bucket`
  }
  return undefined
}

/** Parses and checks an exposition, or fails naming the first line that breaks the format. */
export const parse = (text: string): Effect.Effect<ReadonlyMap<string, Family>, PrometheusTextError> =>
  Effect.suspend(() => {
    if (!text.endsWith("\n")) {
      return Effect.fail(
        new PrometheusTextError({ line: 0, reason: "the text does not end with a line feed" })
      )
    }
    const families = new Map<string, MutableFamily>()
    const series = new Set<string>()
    const fail = (line: number, reason: string) => Effect.fail(new PrometheusTextError({ line, reason }))
    const familyNamed = (name: string): MutableFamily => {
      const existing = families.get(name)
      if (existing !== undefined) return existing
      const created: MutableFamily = { name, help: undefined, type: undefined, samples: [], lastLine: 0 }
      families.set(name, created)
      return created
    }
    let currentFamily: string | undefined
    const lines = text.slice(0, -1).split("\n")
    for (const [index, line] of lines.entries()) {
      const lineNumber = index + 1
      if (line.trim() === "") continue
      const help = helpLine.exec(line)
      const type = typeLine.exec(line)
      if (line.startsWith("# HELP ") || line.startsWith("# TYPE ")) {
        const match = help ?? type
        if (match === null) return fail(lineNumber, `malformed metadata: ${line}`)
        const family = familyNamed(match[1]!)
        if (family.samples.length > 0)
          return fail(lineNumber, `metadata for ${family.name} after its samples`)
        if (help !== null) {
          if (family.help !== undefined) return fail(lineNumber, `second HELP for ${family.name}`)
          family.help = help[2]!
        } else {
          if (family.type !== undefined) return fail(lineNumber, `second TYPE for ${family.name}`)
          family.type = type![2] as MetricType
        }
        currentFamily = family.name
        continue
      }
      if (line.startsWith("#")) continue
      const sample = sampleLine.exec(line)
      if (sample === null) return fail(lineNumber, `malformed sample: ${line}`)
      const labels: Record<string, string> = {}
      for (const [, name, value] of (sample[2] ?? "").matchAll(labelPair)) {
        if (name! in labels) return fail(lineNumber, `label ${name} repeated`)
        labels[name!] = unescapeLabelValue(value!)
      }
      const parsed: Sample = { name: sample[1]!, labels, value: parseValue(sample[3]!) }
      const family = familyNamed(familyOf(families, parsed.name))
      if (family.samples.length > 0 && currentFamily !== family.name) {
        return fail(lineNumber, `samples of ${family.name} are not in one group`)
      }
      const key = seriesKey(parsed)
      if (series.has(key)) return fail(lineNumber, `series ${key} repeated`)
      series.add(key)
      if (family.type === "counter" && !(parsed.value >= 0))
        return fail(lineNumber, `counter ${key} is negative`)
      family.samples.push(parsed)
      family.lastLine = lineNumber
      currentFamily = family.name
    }
    for (const family of families.values()) {
      const problem = family.type === "histogram" ? checkHistogram(family) : undefined
      if (problem !== undefined) return fail(family.lastLine, problem)
    }
    return Effect.succeed(
      new Map(
        [...families.values()].map((family) => [
          family.name,
          { name: family.name, help: family.help, type: family.type ?? "untyped", samples: family.samples }
        ])
      )
    )
  })

/** The value of the sample with this name and exactly these labels, or undefined when there is none. */
export const sampleValue = (
  families: ReadonlyMap<string, Family>,
  sampleName: string,
  labels: Readonly<Record<string, string>>
): number | undefined => {
  const wanted = seriesKey({ name: sampleName, labels, value: 0 })
  for (const family of families.values()) {
    const found = family.samples.find((sample) => seriesKey(sample) === wanted)
    if (found !== undefined) return found.value
  }
  return undefined
}
