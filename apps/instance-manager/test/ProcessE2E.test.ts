import * as Fs from "node:fs"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { LeaderGate } from "@converge/core"
import { FetchHttpClient, HttpApiClient } from "@effect/platform"
import { describe, expect, layer } from "@effect/vitest"
import { Context, Deferred, Duration, Effect, Layer, Option, Schedule } from "effect"
import * as ManagerConfig from "../src/config/ManagerConfig.js"
import * as Api from "../src/http/Api.js"
import * as ApiServer from "../src/http/ApiServer.js"
import * as InstanceManager from "../src/InstanceManager.js"
import * as ProcessProvider from "../src/provider/ProcessProvider.js"
import { Provider } from "../src/provider/Provider.js"
import * as Notifier from "../src/reconciler/Notifier.js"
import * as Fence from "../src/state/Fence.js"
import * as InstanceStore from "../src/state/InstanceStore.js"
import { leadOn, migratedDatabase } from "./helpers.js"

const appDir = fileURLToPath(new URL("..", import.meta.url))
const lockKey = 7_400_101

const isRunning = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Polls `check` (real time, the machine may be loaded) until it holds; fails with `what` after `within`. */
const eventually = <A, E, R>(
  what: string,
  check: Effect.Effect<Option.Option<A>, E, R>,
  within: Duration.DurationInput = "120 seconds"
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

/** Every live instance is running and has reported health, and there are `size` of them. */
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

describe("the process provider end to end", () => {
  layer(migratedDatabase, { excludeTestServices: true, timeout: 300_000 })(
    "a manager on real processes",
    (it) => {
      it.scoped(
        "agents start and report over HTTP; a SIGKILLed instance is replaced; a drain is acknowledged over the API and the process deleted",
        () =>
          Effect.gen(function* () {
            const stateDir = Fs.mkdtempSync(Path.join(tmpdir(), "converge-e2e-"))
            // Added first, so it runs last: every instance process goes, whatever happened.
            yield* Effect.addFinalizer(() => ProcessProvider.killAll(stateDir))
            const agent = [process.execPath, "--import", "tsx", Path.join(appDir, "src/agent/bin.ts")]
            const config = yield* ManagerConfig.decodeYaml(
              JSON.stringify({
                leaderLockKey: lockKey,
                createRateLimit: { burst: 100, perSecond: 100 },
                provider: {
                  type: "process",
                  command: [...agent, "--interval", "500ms"],
                  cwd: appDir,
                  stateDir,
                  gracePeriod: "5s",
                  drainSignal: "SIGUSR2"
                },
                // 10 s: an agent starting under tsx on a loaded machine must report within 3 intervals.
                groups: [
                  { key: "web", desiredSize: 3, maxSurge: 1, healthInterval: "10s", drainTimeout: "5m" }
                ]
              }),
              "e2e.yaml"
            )
            if (config.provider.type !== "process")
              return yield* Effect.die("the config names the process provider")
            const apiUrl = yield* Deferred.make<string>()
            const processes = yield* ProcessProvider.make(config.provider, Deferred.await(apiUrl))
            const drains: Array<Notifier.NotifyDrain> = []
            const recording: Notifier.Notifier.Service = {
              notifyDrain: (drain) => Effect.sync(() => void drains.push(drain)),
              notifyError: (error) => Effect.logWarning(`NotifyError: ${error.message}`)
            }
            const gate = yield* Effect.orDie(leadOn(lockKey))
            const manager = yield* InstanceManager.make(config).pipe(
              Effect.provideService(Provider, processes.provider),
              Effect.provideService(LeaderGate.LeaderGate, gate),
              Effect.provideService(Fence.Fence, Fence.make(lockKey)),
              Effect.provideService(Notifier.Notifier, Notifier.both(recording, processes.drainNotifier))
            )
            const servers = yield* Layer.build(ApiServer.layer(manager, { port: 0 }))
            const url = Context.get(servers, ApiServer.ApiServer).url
            yield* Deferred.succeed(apiUrl, url)
            const client = yield* HttpApiClient.make(Api.InstancesApi, { baseUrl: url }).pipe(
              Effect.provide(FetchHttpClient.layer)
            )
            const pidOf = (providerId: string | null) =>
              Effect.flatMap(processes.inspect(providerId ?? ""), (found) =>
                Option.match(found, {
                  onNone: () => Effect.die(`no process record of ${providerId}`),
                  onSome: (inspection) => Effect.succeed(inspection.record)
                })
              )

            // 1. Three real processes start and report health over HTTP.
            const first = yield* eventually("3 instances running and reporting", reportingGroupOf(3, []))
            const firstRecords = yield* Effect.forEach(first, (instance) => pidOf(instance.providerId))
            expect(new Set(firstRecords.map((record) => record.pid)).size).toBe(3)
            expect(firstRecords.every((record) => isRunning(record.pid))).toBe(true)

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
            const secondRecords = yield* Effect.forEach(second, (instance) => pidOf(instance.providerId))
            expect(secondRecords.map((record) => record.pid)).not.toContain(victimRecord.pid)
            expect(secondRecords.every((record) => isRunning(record.pid))).toBe(true)

            // 3. A termination notice starts a drain: the replacement first, then the drain signal;
            //    the agent acknowledges over the API and the manager deletes the process.
            const drained = second[0]
            const drainedRecord = secondRecords[0]
            if (drained === undefined || drainedRecord === undefined) return yield* Effect.die("no instance")
            yield* client.instances.terminationNotice({ path: { instanceId: drained.id } })
            const drainedAfter = yield* eventually("the drained instance deleted", deletedRecord(drained.id))
            expect(drainedAfter.drainReason).toBe("termination-notice")
            expect(drainedAfter.drainAckedAt).not.toBeNull()
            expect(drainedAfter.replacementId).not.toBeNull()
            expect(drains.map((drain) => drain.instanceId)).toContain(drained.id)
            yield* eventually(
              "the drained process is gone",
              Effect.sync(() => (isRunning(drainedRecord.pid) ? Option.none() : Option.some(true))),
              "30 seconds"
            )
            const log = Fs.readFileSync(drainedRecord.logFile, "utf8")
            expect(log).toContain("first health report accepted")
            expect(log).toContain("drain acknowledged")
            expect(log).toContain("stopped: no more reports")
            const third = yield* eventually(
              "3 instances reporting after the drain",
              reportingGroupOf(3, [victim.id, drained.id])
            )
            expect(third.map((instance) => instance.id)).toContain(drainedAfter.replacementId)
            // A deleted or unknown instance cannot be acknowledged: a 404 naming the fix.
            const unknown = yield* Effect.flip(
              client.instances.drainAck({ path: { instanceId: drained.id } })
            )
            expect(unknown._tag).toBe("InstanceNotFound")
          }),
        300_000
      )
    }
  )
})
