import * as Fs from "node:fs"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Option, Schedule, Schema, Stream } from "effect"
import * as ManagerConfig from "../src/config/ManagerConfig.js"
import { ProcessProviderConfig } from "../src/config/ProviderConfig.js"
import * as ProcessProvider from "../src/provider/ProcessProvider.js"
import type { CreateRequest } from "../src/provider/Provider.js"
import * as ProcessIdentity from "../src/provider/process/ProcessIdentity.js"
import * as ProcessRecord from "../src/provider/process/ProcessRecord.js"

const managerUrl = "http://127.0.0.1:1"

/** A provider on a fresh state directory whose processes are all SIGKILLed when the test ends. */
const providerFor = (config: Record<string, unknown>, stateDir?: string) =>
  Effect.gen(function* () {
    const directory = stateDir ?? Fs.mkdtempSync(Path.join(tmpdir(), "converge-processes-"))
    yield* Effect.addFinalizer(() => ProcessProvider.killAll(directory))
    const options = Schema.decodeUnknownSync(ProcessProviderConfig)({
      type: "process",
      stateDir: directory,
      ...config
    })
    return yield* ProcessProvider.make(options, Effect.succeed(managerUrl))
  })

const nodeScript = (code: string, ...args: ReadonlyArray<string>) => [process.execPath, "-e", code, ...args]

const request = (instanceId: string, group = "web"): CreateRequest => ({
  instanceId,
  tenant: "default",
  group,
  template: { image: "web-1" },
  templateHash: "hash-1"
})

const isRunning = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** The pid is gone: reaped, not only a zombie (so polled briefly, while its parent collects it). */
const awaitGone = (pid: number) =>
  eventually(
    `pid ${pid} is gone`,
    Effect.sync(() => !isRunning(pid)),
    "5 seconds"
  )

/** Polls `check` (real time) until it holds; fails with `what` after `within`. */
const eventually = <E, R>(
  what: string,
  check: Effect.Effect<boolean, E, R>,
  within: Duration.DurationInput = "30 seconds"
) =>
  check.pipe(
    Effect.filterOrFail(
      (holds) => holds,
      () => `not yet: ${what}`
    ),
    Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo(within))),
    Effect.mapError(() => `${what}: not within ${Duration.format(Duration.decode(within))}`)
  )

const logOf = (file: string) => Effect.sync(() => (Fs.existsSync(file) ? Fs.readFileSync(file, "utf8") : ""))
const logShows = (file: string, text: string) =>
  eventually(
    `the log ${file} shows "${text}"`,
    Effect.map(logOf(file), (log) => log.includes(text))
  )

const pidOf = (processes: ProcessProvider.ProcessProvider, providerId: string) =>
  Effect.flatMap(processes.inspect(providerId), (found) =>
    Option.match(found, {
      onNone: () => Effect.fail(`no record of ${providerId}`),
      onSome: (inspection) => Effect.succeed(inspection.record)
    })
  )

describe("ProcessProvider", () => {
  it.effect("config: defaults, and a missing command or an uncatchable drain signal explained", () =>
    Effect.gen(function* () {
      const config = yield* ManagerConfig.decodeYaml(
        "provider: { type: process, command: [agent] }",
        "ok.yaml"
      )
      expect(config.provider).toMatchObject({
        type: "process",
        command: ["agent"],
        stateDir: ".converge/instances"
      })
      expect(config.provider.type === "process" && Duration.toSeconds(config.provider.gracePeriod)).toBe(10)
      const refused = (yaml: string) => Effect.flip(ManagerConfig.decodeYaml(yaml, "bad.yaml"))
      const missing = yield* refused("provider: { type: process }")
      expect(missing.message).toContain("provider.command: command must be the program and its arguments")
      const empty = yield* refused("provider: { type: process, command: [] }")
      expect(empty.message).toContain("provider.command: command must be the program and its arguments")
      const signal = yield* refused("provider: { type: process, command: [agent], drainSignal: SIGKILL }")
      expect(signal.message).toContain(
        "provider.drainSignal: drainSignal must be SIGUSR2, SIGUSR1, SIGHUP or SIGWINCH"
      )
    })
  )

  it.scopedLive(
    "create starts a real process (placeholders, variables, log file); describe, list, drain signal; delete stops it with SIGTERM and forgets it",
    () =>
      Effect.gen(function* () {
        const processes = yield* providerFor({
          drainSignal: "SIGUSR2",
          command: nodeScript(
            [
              "const env = process.env",
              "process.on('SIGTERM', () => { console.log('got SIGTERM'); process.exit(0) })",
              "process.on('SIGUSR2', () => console.log('drain signal'))",
              "console.log('argv', process.argv.slice(1).join(' '), 'env', env.CONVERGE_INSTANCE_ID, env.CONVERGE_GROUP, env.CONVERGE_MANAGER_URL, env.CONVERGE_TEMPLATE)",
              "setInterval(() => {}, 1000)"
            ].join(";"),
            "{instanceId}",
            "{group}",
            "--url={managerUrl}"
          )
        })
        const created = yield* processes.provider.create(request("i-1"))
        expect(created.providerId).toMatch(/^proc-\d+-[0-9a-f]{6}$/)
        expect(created).toMatchObject({
          instanceId: "i-1",
          tenant: "default",
          group: "web",
          state: "running"
        })
        const record = yield* pidOf(processes, created.providerId)
        expect(isRunning(record.pid)).toBe(true)
        expect(record.processStartTime).not.toBeNull()
        yield* logShows(
          record.logFile,
          `argv i-1 web --url=${managerUrl} env i-1 web ${managerUrl} {"image":"web-1"}`
        )

        const described = yield* processes.provider.describe(created.providerId)
        expect(Option.map(described, (instance) => instance.state)).toEqual(Option.some("running"))
        const listed = yield* processes.provider.list("default", "web")
        expect(listed.map((instance) => instance.instanceId)).toEqual(["i-1"])
        expect(yield* processes.provider.list("default", "api")).toEqual([])
        expect(yield* processes.provider.list("other", "web")).toEqual([])

        yield* processes.signalDrain("i-1")
        yield* logShows(record.logFile, "drain signal")
        expect(isRunning(record.pid)).toBe(true)

        yield* processes.provider.delete(created.providerId)
        yield* awaitGone(record.pid)
        expect(yield* logOf(record.logFile)).toContain("got SIGTERM")
        expect(Option.isNone(yield* processes.provider.describe(created.providerId))).toBe(true)
        expect(Fs.existsSync(ProcessRecord.fileOf(processes.stateDir, created.providerId))).toBe(false)
        expect(yield* processes.provider.list("default", "web")).toEqual([])
        // Deleting what is already gone succeeds.
        yield* processes.provider.delete(created.providerId)
      }),
    60_000
  )

  it.scopedLive(
    "delete escalates to SIGKILL after the grace period for a process that ignores SIGTERM",
    () =>
      Effect.gen(function* () {
        const processes = yield* providerFor({
          gracePeriod: "1s",
          command: nodeScript(
            "process.on('SIGTERM', () => console.log('ignoring SIGTERM')); console.log('ready'); setInterval(() => {}, 1000)"
          )
        })
        const created = yield* processes.provider.create(request("stubborn"))
        const record = yield* pidOf(processes, created.providerId)
        // The handler is installed once "ready" is printed; before that SIGTERM would just end it.
        yield* logShows(record.logFile, "ready")
        const started = Date.now()
        yield* processes.provider.delete(created.providerId)
        const took = Date.now() - started
        yield* awaitGone(record.pid)
        expect(took).toBeGreaterThanOrEqual(1_000)
        expect(yield* logOf(record.logFile)).toContain("ignoring SIGTERM")
        yield* logShows(record.logFile, `[converge] process ${record.pid} exited on SIGKILL`)
        expect(Option.isNone(yield* processes.provider.describe(created.providerId))).toBe(true)
      }),
    60_000
  )

  it.scopedLive(
    "an exited process is terminated with its exit code and announced; a reused pid is terminal",
    () =>
      Effect.gen(function* () {
        // Exits at once with code 3, unless its first argument says to wait (for a delete).
        const processes = yield* providerFor({
          command: nodeScript(
            "process.argv[1] === 'long-lived' ? setInterval(() => {}, 1000) : process.exit(3)",
            "{instanceId}"
          )
        })
        const exits = yield* processes.exits
        // A deleted process's end is no news: only the one that ended on its own is announced.
        const deleted = yield* processes.provider.create(request("long-lived"))
        yield* processes.provider.delete(deleted.providerId)
        const created = yield* processes.provider.create(request("short-lived"))
        const announced = yield* Stream.runHead(exits).pipe(Effect.timeout("30 seconds"))
        expect(
          Option.map(announced, (ended) => [ended.instanceId, ended.providerId, ended.exit.code])
        ).toEqual(Option.some(["short-lived", created.providerId, 3]))
        yield* eventually(
          "the exited process is described as terminated",
          Effect.map(processes.provider.describe(created.providerId), (found) =>
            Option.exists(found, (instance) => instance.state === "terminated")
          )
        )
        const record = yield* pidOf(processes, created.providerId)
        yield* eventually(
          "the exit code is recorded",
          Effect.map(processes.inspect(created.providerId), (found) =>
            Option.exists(found, (inspection) => inspection.record.exit?.code === 3)
          )
        )
        yield* logShows(record.logFile, `[converge] process ${record.pid} exited with code 3`)
        const listed = yield* processes.provider.list("default", "web")
        expect(listed.map((instance) => instance.state)).toEqual(["terminated"])

        // A record whose pid now belongs to another process (this one, started at another time).
        const base = { ...record, exit: null, instanceId: "reused", pid: process.pid }
        ProcessRecord.writeSync(processes.stateDir, {
          ...base,
          providerId: "proc-reused",
          processStartTime: "1"
        })
        const reused = yield* processes.inspect("proc-reused")
        expect(Option.map(reused, (inspection) => inspection.liveness)).toEqual(Option.some("reused"))
        expect(
          Option.map(yield* processes.provider.describe("proc-reused"), (instance) => instance.state)
        ).toEqual(Option.some("terminated"))
        // The same pid with its true start time is running: the start time is what tells them apart.
        ProcessRecord.writeSync(processes.stateDir, {
          ...base,
          providerId: "proc-self",
          processStartTime: ProcessIdentity.startTimeOf(process.pid)
        })
        expect(
          Option.map(yield* processes.provider.describe("proc-self"), (instance) => instance.state)
        ).toEqual(Option.some("running"))
        // Deleting a terminal record never signals the pid it names (this test process is still here).
        yield* processes.provider.delete("proc-reused")
        expect(Option.isNone(yield* processes.inspect("proc-reused"))).toBe(true)
        ProcessRecord.writeSync(processes.stateDir, {
          ...base,
          providerId: "proc-self",
          processStartTime: "1"
        })
        yield* processes.provider.delete("proc-self")
      })
  )

  it.scopedLive(
    "list survives a restart: a new provider on the same state dir finds, describes and deletes the processes",
    () =>
      Effect.gen(function* () {
        const command = nodeScript("setInterval(() => {}, 1000)")
        const first = yield* providerFor({ command })
        const web = yield* Effect.all([
          first.provider.create(request("web-1")),
          first.provider.create(request("web-2"))
        ])
        const api = yield* first.provider.create(request("api-1", "api"))

        const restarted = yield* providerFor({ command }, first.stateDir)
        const listed = yield* restarted.provider.list("default", "web")
        expect(listed.map((instance) => instance.providerId).sort()).toEqual(
          web.map((instance) => instance.providerId).sort()
        )
        expect(listed.every((instance) => instance.state === "running")).toBe(true)
        expect(
          (yield* restarted.provider.list("default", "api")).map((instance) => instance.instanceId)
        ).toEqual(["api-1"])
        const everything = yield* restarted.provider.listAll(undefined)
        expect(everything.instances.map((instance) => instance.instanceId).sort()).toEqual([
          "api-1",
          "web-1",
          "web-2"
        ])
        expect(everything.nextPageToken).toBeUndefined()
        const pids = yield* Effect.forEach(web, (instance) => pidOf(restarted, instance.providerId))
        yield* Effect.forEach(web, (instance) => restarted.provider.delete(instance.providerId))
        yield* Effect.forEach(pids, (record) => awaitGone(record.pid))
        expect(yield* restarted.provider.list("default", "web")).toEqual([])
        const apiRecord = yield* pidOf(restarted, api.providerId)
        expect(isRunning(apiRecord.pid)).toBe(true)
      }),
    60_000
  )

  it.scopedLive("errors are classified: a missing command is permanent, a resource shortage retryable", () =>
    Effect.gen(function* () {
      const missing = yield* providerFor({ command: ["/nonexistent/converge-agent", "{instanceId}"] })
      const error = yield* Effect.flip(missing.provider.create(request("never")))
      expect(error._tag).toBe("ProviderPermanentError")
      expect(error.message).toContain("ENOENT")
      expect(yield* missing.provider.list("default", "web")).toEqual([])

      const badCwd = yield* providerFor({ command: nodeScript("0"), cwd: "/nonexistent/directory" })
      expect((yield* Effect.flip(badCwd.provider.create(request("never"))))._tag).toBe(
        "ProviderPermanentError"
      )

      const shortage = Object.assign(new Error("spawn EAGAIN"), { code: "EAGAIN" })
      expect(ProcessProvider.classify("create", "could not start", shortage)._tag).toBe(
        "ProviderRetryableError"
      )
      const denied = Object.assign(new Error("spawn EACCES"), { code: "EACCES" })
      expect(ProcessProvider.classify("create", "could not start", denied)._tag).toBe(
        "ProviderPermanentError"
      )
    })
  )
})
