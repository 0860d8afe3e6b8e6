/**
 * The process provider's state directory: one JSON file per instance, `<providerId>.json`, holding
 * what is needed to find the process again after a manager restart (pid, kernel start time,
 * tenant, group, instance id) and how it ended once it has. Files are written atomically
 * (a temporary file renamed over the old one), so a crash never leaves half a record.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { Effect, Option, Schema } from "effect"

/** How a process ended: its exit code, or the signal that killed it. */
export const ProcessExit = Schema.Struct({
  code: Schema.NullOr(Schema.Number),
  signal: Schema.NullOr(Schema.String),
  /** Epoch milliseconds. */
  at: Schema.Number
})

/** The type of `ProcessExit`. */
export type ProcessExit = typeof ProcessExit.Type

/** One instance's record in the state directory. */
export const ProcessRecord = Schema.Struct({
  providerId: Schema.String,
  instanceId: Schema.String,
  tenant: Schema.String,
  group: Schema.String,
  templateHash: Schema.String,
  pid: Schema.Number,
  /** The kernel's start time of the process (Linux), to tell it from a later process with the same pid. */
  processStartTime: Schema.NullOr(Schema.String),
  /** Epoch milliseconds. */
  createdAt: Schema.Number,
  logFile: Schema.String,
  argv: Schema.Array(Schema.String),
  /** Set when the manager that started the process saw it exit. */
  exit: Schema.NullOr(ProcessExit)
})

/** The type of `ProcessRecord`. */
export type ProcessRecord = typeof ProcessRecord.Type

const decode = Schema.decodeUnknownOption(Schema.parseJson(ProcessRecord))
const encode = Schema.encodeSync(Schema.parseJson(ProcessRecord, { space: 2 }))

/** The file of `providerId` in `stateDir`. */
export const fileOf = (stateDir: string, providerId: string): string =>
  Path.join(stateDir, `${providerId}.json`)

/** Writes a record atomically. Synchronous, so it can also run from a child's `exit` listener. */
export const writeSync = (stateDir: string, record: ProcessRecord): void => {
  const file = fileOf(stateDir, record.providerId)
  const temporary = `${file}.${process.pid}.tmp`
  Fs.writeFileSync(temporary, encode(record))
  Fs.renameSync(temporary, file)
}

/** Reads a record; `None` when the file does not exist. A file that is not a record is also `None` (and logged). */
export const readSync = (stateDir: string, providerId: string): Option.Option<ProcessRecord> => {
  let text: string
  try {
    text = Fs.readFileSync(fileOf(stateDir, providerId), "utf8")
  } catch {
    return Option.none()
  }
  return decode(text)
}

/** Every record in `stateDir` (files that are not records are skipped with a warning). */
export const readAll = (
  stateDir: string
): Effect.Effect<ReadonlyArray<ProcessRecord>, NodeJS.ErrnoException> =>
  Effect.gen(function* () {
    const names = yield* Effect.tryPromise({
      try: () => Fs.promises.readdir(stateDir),
      catch: (error) => error as NodeJS.ErrnoException
    }).pipe(
      Effect.catchIf(
        (error) => error.code === "ENOENT",
        () => Effect.succeed([] as Array<string>)
      )
    )
    const records: Array<ProcessRecord> = []
    for (const name of names.filter((name) => name.endsWith(".json"))) {
      const record = readSync(stateDir, name.slice(0, -".json".length))
      if (Option.isSome(record)) records.push(record.value)
      else
        yield* Effect.logWarning(
          `process provider: ${Path.join(stateDir, name)} is not an instance record; skipped`
        )
    }
    return records
  })

/** Records how the process of `providerId` ended, if its file still exists (called from the `exit` listener). */
export const recordExitSync = (stateDir: string, providerId: string, exit: ProcessExit): void => {
  const record = readSync(stateDir, providerId)
  if (Option.isSome(record) && record.value.exit === null) writeSync(stateDir, { ...record.value, exit })
}

/** Removes the record of `providerId`; a missing file is fine. */
export const remove = (stateDir: string, providerId: string): Effect.Effect<void, NodeJS.ErrnoException> =>
  // Synchronous, so it cannot interleave with `recordExitSync` and leave a file behind.
  Effect.try({
    try: () => Fs.rmSync(fileOf(stateDir, providerId), { force: true }),
    catch: (error) => error as NodeJS.ErrnoException
  })
