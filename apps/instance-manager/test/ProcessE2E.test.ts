import * as Fs from "node:fs"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { ProcessHarness, TestDatabase } from "@converge/testing"
import { FetchHttpClient, HttpApiClient } from "@effect/platform"
import { describe, expect, layer } from "@effect/vitest"
import { Duration, Effect, Exit, Option, Schedule, Stream } from "effect"
import * as Api from "../src/http/Api.js"
import * as ProcessProvider from "../src/provider/ProcessProvider.js"
import * as InstanceStore from "../src/state/InstanceStore.js"
import { migratedDatabase } from "./helpers.js"

const appDir = fileURLToPath(new URL("..", import.meta.url))

const isRunning = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Polls `check` (real time, the machine may be loaded) until it is `Some`; fails with `what` after `within`. */
const eventually = <A, E, R>(
  what: string,
  check: Effect.Effect<Option.Option<A>, E, R>,
  within: Duration.DurationInput = "180 seconds"
) =>
  check.pipe(
    Effect.flatMap(Option.match({ onNone: () => Effect.fail(`not yet: ${what}`), onSome: Effect.succeed })),
    Effect.retry(Schedule.spaced("250 millis").pipe(Schedule.upTo(within))),
    Effect.mapError(() => `${what}: not within ${Duration.format(Duration.decode(within))}`),
    Effect.timed,
    Effect.flatMap(([took, value]) =>
      Effect.as(Effect.logInfo(`${what} after ${Duration.format(took)}`), value)
    )
  )

/** The group's live instances once there are `size`, all running and reporting, none of `excluding`. */
const reportingGroupOf = (size: number, excluding: ReadonlyArray<string>) =>
  Effect.map(InstanceStore.listLive("default", "web"), (live) =>
    live.length === size &&
    live.every(
      (instance) =>
        instance.state === "running" && instance.lastHealthAt !== null && !excluding.includes(instance.id)
    )
      ? Option.some(live)
      : Option.none()
  )

const deletedRecord = (instanceId: string) =>
  Effect.map(InstanceStore.get(instanceId), (found) =>
    Option.filter(found, (instance) => instance.state === "deleted")
  )

/** The URL `run` prints after `label` (e.g. `api`). */
const urlAfter = (child: ProcessHarness.RunningProcess, label: string) =>
  child.output.pipe(
    Stream.filterMap((line) =>
      Option.fromNullable(new RegExp(`^\\s*${label}\\s+(http://127\\.0\\.0\\.1:\\d+)`).exec(line.text)?.[1])
    ),
    Stream.runHead,
    Effect.flatten,
    Effect.timeoutFail({ duration: "120 seconds", onTimeout: () => `run printed no ${label} URL` })
  )

describe("the process provider end to end", () => {
  layer(migratedDatabase, { excludeTestServices: true, timeout: 600_000 })(
    "converge-instances run on real processes",
    (it) => {
      it.scoped(
        "agents start and report over HTTP; a SIGKILLed instance is replaced; drains acknowledged over the API (by the agent, by an operator) delete the process",
        () =>
          Effect.gen(function* () {
            const database = yield* TestDatabase.TestDatabase
            const directory = Fs.mkdtempSync(Path.join(tmpdir(), "converge-e2e-"))
            const stateDir = Path.join(directory, "instances")
            // Added before the manager starts, so it runs after the manager is killed: every
            // instance process goes too, whatever happened.
            yield* Effect.addFinalizer(() => ProcessProvider.killAll(stateDir))
            const configFile = Path.join(directory, "instances.yaml")
            Fs.writeFileSync(
              configFile,
              JSON.stringify({
                leaderLockKey: 7_400_101,
                provider: {
                  type: "process",
                  command: [
                    process.execPath,
                    "--import",
                    "tsx",
                    Path.join(appDir, "src/agent/bin.ts"),
                    "--interval",
                    "500ms"
                  ],
                  cwd: appDir,
                  stateDir,
                  gracePeriod: "5s",
                  drainSignal: "SIGUSR2"
                },
                // 15 s: an agent starting under tsx on a loaded machine must report within 3 intervals.
                groups: [
                  { key: "web", desiredSize: 3, maxSurge: 1, healthInterval: "15s", drainTimeout: "5m" }
                ]
              })
            )
            const manager = yield* ProcessHarness.start({
              command: process.execPath,
              args: ["--import", "tsx", "src/bin.ts", "run", "-c", configFile, "--port", "0"],
              cwd: appDir,
              env: { DATABASE_URL: database.url }
            })
            // On a failure, what the manager and the database last said.
            yield* Effect.addFinalizer((exit) =>
              Exit.isSuccess(exit)
                ? Effect.void
                : Effect.gen(function* () {
                    const output = yield* manager.recentOutput
                    const instances = yield* InstanceStore.listAll(20).pipe(Effect.orElseSucceed(() => []))
                    yield* Effect.logError(
                      [
                        "the manager's last output:",
                        ...output.map((line) => line.text),
                        "instances:",
                        ...instances.map((instance) => JSON.stringify(instance))
                      ].join("\n")
                    )
                  })
            )
            const apiUrl = yield* urlAfter(manager, "api")
            const client = yield* HttpApiClient.make(Api.InstancesApi, { baseUrl: apiUrl }).pipe(
              Effect.provide(FetchHttpClient.layer)
            )
            // A provider on the manager's state directory, to read its process records.
            const processes = yield* ProcessProvider.make(
              { command: ["unused"], gracePeriod: Duration.seconds(5), stateDir, env: {} },
              Effect.succeed(apiUrl)
            )
            const recordOf = (providerId: string | null) =>
              Effect.flatMap(processes.inspect(providerId ?? ""), (found) =>
                Option.match(found, {
                  onNone: () => Effect.die(`no process record of ${providerId}`),
                  onSome: (inspection) => Effect.succeed(inspection.record)
                })
              )

            // 1. Three real processes start and report health over HTTP.
            const first = yield* eventually("3 instances running and reporting", reportingGroupOf(3, []))
            const firstRecords = yield* Effect.forEach(first, (instance) => recordOf(instance.providerId))
            expect(new Set(firstRecords.map((record) => record.pid)).size).toBe(3)
            expect(firstRecords.every((record) => isRunning(record.pid))).toBe(true)
            expect(firstRecords.every((record) => record.argv.includes("500ms"))).toBe(true)

            // 2. One is SIGKILLed: found terminal, deleted without a drain, replaced by a new process.
            const victim = first[0]
            const victimRecord = firstRecords[0]
            if (victim === undefined || victimRecord === undefined) return yield* Effect.die("no instance")
            process.kill(victimRecord.pid, "SIGKILL")
            const victimAfter = yield* eventually("the SIGKILLed instance deleted", deletedRecord(victim.id))
            expect(victimAfter.unhealthyReason).toBe("terminal")
            expect(victimAfter.drainStartedAt).toBeNull()
            expect(Option.isNone(yield* processes.inspect(victimRecord.providerId))).toBe(true)
            const second = yield* eventually(
              "3 instances reporting after the replacement",
              reportingGroupOf(3, [victim.id])
            )
            const secondRecords = yield* Effect.forEach(second, (instance) => recordOf(instance.providerId))
            expect(secondRecords.map((record) => record.pid)).not.toContain(victimRecord.pid)
            expect(secondRecords.every((record) => isRunning(record.pid))).toBe(true)

            // 3. A termination notice (over the API) starts a drain: the replacement first, then the
            //    drain signal; the agent acknowledges over the API and the manager deletes the process.
            const drained = second[0]
            const drainedRecord = secondRecords[0]
            if (drained === undefined || drainedRecord === undefined) return yield* Effect.die("no instance")
            yield* client.instances.terminationNotice({ path: { instanceId: drained.id } })
            const drainedAfter = yield* eventually("the drained instance deleted", deletedRecord(drained.id))
            expect(drainedAfter.drainReason).toBe("termination-notice")
            expect(drainedAfter.drainStartedAt).not.toBeNull()
            expect(drainedAfter.drainAckedAt).not.toBeNull()
            expect(drainedAfter.replacementId).not.toBeNull()
            yield* eventually(
              "the drained process is gone",
              Effect.sync(() => (isRunning(drainedRecord.pid) ? Option.none() : Option.some(true))),
              "30 seconds"
            )
            const log = Fs.readFileSync(drainedRecord.logFile, "utf8")
            expect(log).toContain("first health report accepted")
            expect(log).toContain("drain requested")
            expect(log).toContain("drain acknowledged")
            expect(log).toContain("stopped: no more reports")
            const third = yield* eventually(
              "3 instances reporting after the drain",
              reportingGroupOf(3, [victim.id, drained.id])
            )
            expect(third.map((instance) => instance.id)).toContain(drainedAfter.replacementId)
            // A deleted instance can no longer be acknowledged: a 404 with a message.
            const gone = yield* Effect.flip(client.instances.drainAck({ path: { instanceId: drained.id } }))
            expect(gone._tag).toBe("InstanceNotFound")

            // 4. An operator's ack: a frozen agent (SIGSTOP) cannot ack its drain itself; the
            //    operator acks over the API, and the delete escalates to SIGKILL after the grace period.
            const frozen = third[0]
            const frozenRecord = yield* recordOf(frozen?.providerId ?? null)
            if (frozen === undefined) return yield* Effect.die("no instance")
            process.kill(frozenRecord.pid, "SIGSTOP")
            yield* client.instances.terminationNotice({ path: { instanceId: frozen.id } })
            yield* eventually(
              "the frozen instance draining",
              Effect.map(InstanceStore.get(frozen.id), (found) =>
                Option.filter(found, (instance) => instance.state === "draining")
              )
            )
            yield* client.instances.drainAck({ path: { instanceId: frozen.id } })
            const frozenAfter = yield* eventually("the frozen instance deleted", deletedRecord(frozen.id))
            expect(frozenAfter.drainAckedAt).not.toBeNull()
            yield* eventually(
              "the frozen process is gone (SIGKILL)",
              Effect.sync(() => (isRunning(frozenRecord.pid) ? Option.none() : Option.some(true))),
              "30 seconds"
            )
            expect(Fs.readFileSync(frozenRecord.logFile, "utf8")).not.toContain("drain acknowledged")
            const fourth = yield* eventually(
              "3 instances reporting after the operator's ack",
              reportingGroupOf(3, [victim.id, drained.id, frozen.id])
            )

            // 5. The instances outlive the manager, as a cloud's do (the finalizer cleans them up).
            const survivors = yield* Effect.forEach(fourth, (instance) => recordOf(instance.providerId))
            const exit = yield* manager.kill("SIGINT")
            expect(exit.code === 0 || exit.signal === "SIGINT").toBe(true)
            expect(survivors.every((record) => isRunning(record.pid))).toBe(true)
          }),
        600_000
      )
    }
  )
})
