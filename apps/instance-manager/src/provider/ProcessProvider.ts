/**
 * The `process` provider: every instance is a real local OS process, started from the configured
 * command template, that reports health to the manager's HTTP API (the sample agent does:
 * `converge-instances agent`, see `src/agent/Agent.ts`).
 *
 * ```text
 *   create ──spawn (own process group, stdin closed, stdout+stderr ▶ <logDir>/<instanceId>.log)──▶ pid
 *          ──write <stateDir>/<providerId>.json { pid, kernel start time, tenant, group, … }
 *   describe ◀── the record + /proc: running | terminated (exit code / signal, or the pid reused) | gone
 *   delete  ──SIGTERM to the group ── gracePeriod ── SIGKILL ── remove the record
 *   list    ◀── every record of the group in stateDir: survives a manager restart
 *   listAll ◀── every record in stateDir, by provider id, pages of `listPageSize`
 *   drain   ──drainSignal (e.g. SIGUSR2) to the process, if configured: the agent acks over the API
 * ```
 *
 * Each instance gets its identity twice: placeholders in the argv (`{instanceId}`, `{tenant}`,
 * `{group}`, `{managerUrl}`, `{templateHash}`) and environment variables (`CONVERGE_INSTANCE_ID`,
 * `CONVERGE_TENANT`, `CONVERGE_GROUP`, `CONVERGE_MANAGER_URL`, `CONVERGE_TEMPLATE_HASH`,
 * `CONVERGE_TEMPLATE` as JSON).
 *
 * Errors are classified for the manager: a command that does not exist or may not run (`ENOENT`,
 * `EACCES`, …) is permanent; resource shortages (`EAGAIN`, `EMFILE`, `ENOMEM`, …) are retryable.
 * Instances outlive the manager (they are detached and not killed on shutdown), like a cloud's.
 */
import * as ChildProcess from "node:child_process"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { Duration, Effect, Option, PubSub, Schedule, type Scope, Stream } from "effect"
import type { ProcessProviderConfig } from "../config/ProviderConfig.js"
import type { Notifier } from "../reconciler/Notifier.js"
import {
  type CreateRequest,
  type Provider,
  type ProviderError,
  type ProviderInstance,
  ProviderPermanentError,
  ProviderRetryableError
} from "./Provider.js"
import * as ProcessIdentity from "./process/ProcessIdentity.js"
import * as ProcessRecord from "./process/ProcessRecord.js"

/** Settings of the provider: the config without its `type`. */
export type Options = Omit<ProcessProviderConfig, "type">

/** What the provider knows about one instance's process. */
export interface Inspection {
  readonly record: ProcessRecord.ProcessRecord
  readonly liveness: ProcessIdentity.Liveness
}

/** A process this provider started ended without being deleted (it crashed, was killed, or quit). */
export interface ProcessExited {
  readonly instanceId: string
  readonly providerId: string
  readonly exit: ProcessRecord.ProcessExit
}

/** A process provider and what it offers beyond the `Provider` seam. */
export interface ProcessProvider {
  readonly provider: Provider.Service
  /** The record and liveness of an instance's process; `None` once deleted. */
  readonly inspect: (providerId: string) => Effect.Effect<Option.Option<Inspection>>
  /** Sends the configured `drainSignal` to the instance's process (nothing when none is configured). */
  readonly signalDrain: (instanceId: string) => Effect.Effect<void>
  /**
   * Subscribes (at once, for the scope) to the processes this provider started that end on their
   * own, as they end: `run` reports each as a disconnect, so the manager checks the instance at
   * once instead of at its next health tick.
   */
  readonly exits: Effect.Effect<Stream.Stream<ProcessExited>, never, Scope.Scope>
  /** A notifier whose `notifyDrain` signals the draining instance's process: compose it with the user's. */
  readonly drainNotifier: Notifier.Service
  /** The state directory, resolved. */
  readonly stateDir: string
}

const permanentCodes = new Set([
  "ENOENT",
  "EACCES",
  "EPERM",
  "ENOTDIR",
  "EISDIR",
  "ENOEXEC",
  "E2BIG",
  "ENAMETOOLONG",
  "EINVAL",
  "EROFS",
  "ELOOP"
])

/** Classifies a system error: permanent when retrying cannot help, else retryable. */
export const classify = (operation: string, what: string, error: unknown): ProviderError => {
  const code = (error as NodeJS.ErrnoException | undefined)?.code ?? "UNKNOWN"
  const detail = error instanceof Error ? error.message : String(error)
  return permanentCodes.has(code)
    ? new ProviderPermanentError({
        operation,
        message: `${what}: ${detail} (${code}); fix the process provider's config (command, cwd, stateDir, logDir)`
      })
    : new ProviderRetryableError({ operation, message: `${what}: ${detail} (${code}); it is retried` })
}

/** Records per page of the process provider's `listAll` (it reads one directory: no API cost). */
export const listPageSize = 1_000

const placeholder = /\{(instanceId|tenant|group|managerUrl|templateHash)\}/g

/** Replaces the placeholders of the command template in one argv element. */
export const substitute = (
  argument: string,
  values: Readonly<Record<"instanceId" | "tenant" | "group" | "managerUrl" | "templateHash", string>>
): string => argument.replace(placeholder, (_, name: keyof typeof values) => values[name])

const stateOf = (inspection: Inspection): ProviderInstance["state"] =>
  inspection.record.exit === null && inspection.liveness === "alive" ? "running" : "terminated"

const describeRecord = (inspection: Inspection): ProviderInstance => ({
  providerId: inspection.record.providerId,
  instanceId: inspection.record.instanceId,
  tenant: inspection.record.tenant,
  group: inspection.record.group,
  templateHash: inspection.record.templateHash,
  createdAt: inspection.record.createdAt,
  state: stateOf(inspection)
})

const inspectRecord = (record: ProcessRecord.ProcessRecord): Inspection => ({
  record,
  liveness: ProcessIdentity.liveness(record.pid, record.processStartTime)
})

/** Sends `signal` to the process group of `pid` (every process the instance started), else to `pid`. ESRCH is fine. */
const signalGroup = (pid: number, signal: NodeJS.Signals): void => {
  try {
    process.kill(-pid, signal)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error
    try {
      process.kill(pid, signal)
    } catch (single) {
      if ((single as NodeJS.ErrnoException).code !== "ESRCH") throw single
    }
  }
}

const stillAlive = (record: ProcessRecord.ProcessRecord) =>
  Effect.sync(() => ProcessIdentity.liveness(record.pid, record.processStartTime) === "alive")

/** Waits (polling) until the process has exited; `true` if it did within `within`. */
const awaitExit = (record: ProcessRecord.ProcessRecord, within: Duration.DurationInput) =>
  stillAlive(record).pipe(
    Effect.repeat({ schedule: Schedule.spaced("50 millis"), until: (alive) => !alive }),
    Effect.timeoutTo({ duration: within, onSuccess: () => true, onTimeout: () => false })
  )

/**
 * Starts a process provider. `managerUrl` is the API URL the agents report to (used unless the
 * config sets `managerUrl`); creates wait for it, so it may be resolved once the API server binds.
 */
export const make = (options: Options, managerUrl: Effect.Effect<string>): Effect.Effect<ProcessProvider> =>
  Effect.map(PubSub.unbounded<ProcessExited>(), (exits) => {
    const stateDir = Path.resolve(options.stateDir)
    const logDir = Path.resolve(options.logDir ?? Path.join(options.stateDir, "logs"))
    const urlOf = options.managerUrl === undefined ? managerUrl : Effect.succeed(options.managerUrl)
    // Provider ids being deleted: their exit is expected, not news. Only this manager's children
    // (whose exit it sees) leave the set; processes adopted after a restart stay in it.
    const deleting = new Set<string>()

    const inspect = (providerId: string) =>
      Effect.sync(() => Option.map(ProcessRecord.readSync(stateDir, providerId), inspectRecord))

    const spawn = (request: CreateRequest, url: string) =>
      Effect.async<ProviderInstance, ProviderError>((resume) => {
        const values = {
          instanceId: request.instanceId,
          tenant: request.tenant,
          group: request.group,
          managerUrl: url,
          templateHash: request.templateHash
        }
        const argv = options.command.map((argument) => substitute(argument, values))
        const logFile = Path.join(logDir, `${request.instanceId}.log`)
        let output: number
        try {
          Fs.mkdirSync(stateDir, { recursive: true })
          Fs.mkdirSync(logDir, { recursive: true })
          output = Fs.openSync(logFile, "a")
        } catch (error) {
          return resume(
            Effect.fail(classify("create", `could not prepare ${stateDir} and ${logFile}`, error))
          )
        }
        let settled = false
        let providerId: string | undefined
        let exited: ProcessRecord.ProcessExit | undefined
        const settle = (effect: Effect.Effect<ProviderInstance, ProviderError>) => {
          if (settled) return
          settled = true
          Fs.closeSync(output)
          resume(effect)
        }
        let child: ChildProcess.ChildProcess
        try {
          child = ChildProcess.spawn(argv[0] ?? "", argv.slice(1), {
            cwd: options.cwd,
            env: {
              ...process.env,
              ...options.env,
              CONVERGE_INSTANCE_ID: request.instanceId,
              CONVERGE_TENANT: request.tenant,
              CONVERGE_GROUP: request.group,
              CONVERGE_MANAGER_URL: url,
              CONVERGE_TEMPLATE_HASH: request.templateHash,
              CONVERGE_TEMPLATE: JSON.stringify(request.template)
            },
            detached: true,
            stdio: ["ignore", output, output]
          })
        } catch (error) {
          return settle(Effect.fail(classify("create", `could not start ${argv.join(" ")}`, error)))
        }
        // Kept for the process's lifetime: an unhandled "error" event would crash the manager.
        child.on("error", (error) => {
          if (!settled) settle(Effect.fail(classify("create", `could not start ${argv.join(" ")}`, error)))
        })
        child.once("exit", (code, signal) => {
          exited = { code, signal, at: Date.now() }
          // The record goes with the delete; the log file keeps how the process ended.
          const how = signal === null ? `with code ${code}` : `on ${signal}`
          try {
            Fs.appendFileSync(logFile, `[converge] process ${child.pid} exited ${how}\n`)
          } catch {
            // A full disk or a removed directory: the record below still has it.
          }
          try {
            if (providerId !== undefined) ProcessRecord.recordExitSync(stateDir, providerId, exited)
          } catch {
            // Likewise: describe still sees the process gone, through /proc.
          }
          if (providerId !== undefined && !deleting.delete(providerId)) {
            exits.unsafeOffer({ instanceId: request.instanceId, providerId, exit: exited })
          }
        })
        child.once("spawn", () => {
          const pid = child.pid
          if (pid === undefined) {
            return settle(
              Effect.fail(
                new ProviderRetryableError({
                  operation: "create",
                  message: "the process started without a pid"
                })
              )
            )
          }
          const record: ProcessRecord.ProcessRecord = {
            providerId: `proc-${pid}-${Crypto.randomBytes(3).toString("hex")}`,
            instanceId: request.instanceId,
            tenant: request.tenant,
            group: request.group,
            templateHash: request.templateHash,
            pid,
            processStartTime: ProcessIdentity.startTimeOf(pid),
            createdAt: Date.now(),
            logFile,
            argv,
            exit: exited ?? null
          }
          try {
            ProcessRecord.writeSync(stateDir, record)
          } catch (error) {
            signalGroup(pid, "SIGKILL")
            return settle(Effect.fail(classify("create", `could not write the state of pid ${pid}`, error)))
          }
          providerId = record.providerId
          // Exited between "spawn" and now: the listener had no file to write to yet.
          if (exited !== undefined) ProcessRecord.recordExitSync(stateDir, record.providerId, exited)
          // The manager may exit while its instances run on, as a cloud's do.
          child.unref()
          settle(Effect.succeed(describeRecord(inspectRecord(record))))
        })
        // Interrupted before the process started: it must not run on unrecorded.
        return Effect.sync(() => {
          if (settled) return
          settled = true
          Fs.closeSync(output)
          try {
            if (child.pid !== undefined) signalGroup(child.pid, "SIGKILL")
          } catch {
            // Not ours to signal any more (EPERM): nothing was recorded either.
          }
        })
      })

    const create = (request: CreateRequest) =>
      Effect.flatMap(urlOf, (url) => spawn(request, url)).pipe(
        Effect.tap((instance) =>
          Effect.logInfo("process instance started").pipe(
            Effect.annotateLogs({ instance: request.instanceId, providerId: instance.providerId })
          )
        )
      )

    const remove = (providerId: string): Effect.Effect<void, ProviderError> =>
      Effect.gen(function* () {
        const found = ProcessRecord.readSync(stateDir, providerId)
        if (Option.isNone(found)) return
        const record = found.value
        if (yield* stillAlive(record)) {
          // Forgotten by the exit listener once the process ends (or here, if the delete fails).
          deleting.add(providerId)
          yield* Effect.addFinalizer((exit) =>
            exit._tag === "Failure" ? Effect.sync(() => void deleting.delete(providerId)) : Effect.void
          )
          yield* Effect.try({
            try: () => signalGroup(record.pid, "SIGTERM"),
            catch: (error) => classify("delete", `could not send SIGTERM to pid ${record.pid}`, error)
          })
          if (!(yield* awaitExit(record, options.gracePeriod))) {
            yield* Effect.logWarning(
              `pid ${record.pid} still runs ${Duration.format(options.gracePeriod)} after SIGTERM: SIGKILL`
            ).pipe(Effect.annotateLogs({ instance: record.instanceId, providerId }))
            yield* Effect.try({
              try: () => signalGroup(record.pid, "SIGKILL"),
              catch: (error) => classify("delete", `could not send SIGKILL to pid ${record.pid}`, error)
            })
            if (!(yield* awaitExit(record, "10 seconds"))) {
              return yield* new ProviderRetryableError({
                operation: "delete",
                message: `pid ${record.pid} still runs 10 s after SIGKILL; the delete is retried`
              })
            }
          }
        }
        yield* ProcessRecord.remove(stateDir, providerId).pipe(
          Effect.mapError((error) => classify("delete", `could not remove the state of ${providerId}`, error))
        )
      }).pipe(Effect.scoped)

    const list = (tenant: string, group: string) =>
      ProcessRecord.readAll(stateDir).pipe(
        Effect.map((records) =>
          records
            .filter((record) => record.tenant === tenant && record.group === group)
            .map((record) => describeRecord(inspectRecord(record)))
        ),
        Effect.mapError((error) => classify("list", `could not read ${stateDir}`, error))
      )

    const listAll = (pageToken: string | undefined) =>
      ProcessRecord.readAll(stateDir).pipe(
        Effect.map((records) => {
          // Provider ids order the pages; the token is the last id of the previous page.
          const after = records
            .filter((record) => pageToken === undefined || record.providerId > pageToken)
            .sort((left, right) => (left.providerId < right.providerId ? -1 : 1))
          const page = after.slice(0, listPageSize)
          const last = page.at(-1)
          return {
            instances: page.map((record) => describeRecord(inspectRecord(record))),
            nextPageToken: after.length > page.length && last !== undefined ? last.providerId : undefined
          }
        }),
        Effect.mapError((error) => classify("listAll", `could not read ${stateDir}`, error))
      )

    const signalDrain = (instanceId: string): Effect.Effect<void> =>
      Effect.gen(function* () {
        const signal = options.drainSignal
        if (signal === undefined) return
        const records = yield* ProcessRecord.readAll(stateDir)
        for (const record of records.filter((record) => record.instanceId === instanceId)) {
          if (!(yield* stillAlive(record))) continue
          process.kill(record.pid, signal)
          yield* Effect.logInfo(`drain: sent ${signal} to pid ${record.pid}`).pipe(
            Effect.annotateLogs({ instance: instanceId })
          )
        }
      }).pipe(
        Effect.catchAllCause((cause) =>
          Effect.logWarning(`drain: could not signal the process of ${instanceId}`, cause)
        )
      )

    const provider: Provider.Service = {
      name: "process",
      create,
      delete: remove,
      describe: (providerId) => Effect.map(inspect(providerId), Option.map(describeRecord)),
      list,
      listAll,
      // Local processes get no advance notice; an agent may POST /v1/instances/:id/termination-notice itself.
      terminationNotices: Stream.never
    }
    return {
      provider,
      inspect,
      signalDrain,
      exits: Stream.fromPubSub(exits, { scoped: true }),
      drainNotifier: {
        notifyDrain: (drain) => signalDrain(drain.instanceId),
        notifyError: () => Effect.void
      },
      stateDir
    } satisfies ProcessProvider
  })

/**
 * SIGKILLs every live process recorded in `stateDir` and removes the records; returns how many
 * were killed. For tests' finalizers and for cleaning up after experiments.
 */
export const killAll = (stateDir: string): Effect.Effect<number> =>
  Effect.gen(function* () {
    const records = yield* ProcessRecord.readAll(Path.resolve(stateDir)).pipe(
      Effect.orElseSucceed(() => [] as ReadonlyArray<ProcessRecord.ProcessRecord>)
    )
    let killed = 0
    for (const record of records) {
      if (yield* stillAlive(record)) {
        yield* Effect.try(() => signalGroup(record.pid, "SIGKILL")).pipe(Effect.ignore)
        yield* awaitExit(record, "10 seconds")
        killed++
      }
      yield* ProcessRecord.remove(Path.resolve(stateDir), record.providerId).pipe(Effect.ignore)
    }
    return killed
  })
