/**
 * The server side of `InstancesApi`: each endpoint calls the running `InstanceManager` and maps
 * its errors onto the API's (unknown instance or group → 404, full queue or database → 503).
 */
import { HttpApiBuilder } from "@effect/platform"
import { SqlClient, type SqlError } from "@effect/sql"
import { Effect, Layer, Option } from "effect"
import type * as InstanceManager from "../InstanceManager.js"
import * as ManagerStatus from "../ManagerStatus.js"
import type { EventQueueFull } from "../state/EventStore.js"
import * as GroupStore from "../state/GroupStore.js"
import * as Api from "./Api.js"

const commonErrors = {
  EventQueueFull: (error: EventQueueFull) =>
    new Api.QueueFull({ capacity: error.capacity, message: error.message }),
  SqlError: (error: SqlError.SqlError) =>
    new Api.DatabaseUnavailable({ message: `The database failed the request (${error.message}); try again` })
}

const instanceErrors = <A, R>(
  effect: Effect.Effect<A, InstanceManager.UnknownInstance | EventQueueFull | SqlError.SqlError, R>
) =>
  Effect.catchTags(effect, {
    ...commonErrors,
    UnknownInstance: (error) =>
      new Api.InstanceNotFound({ instanceId: error.instanceId, message: error.message })
  })

const groupErrors = <A, R>(
  effect: Effect.Effect<
    A,
    InstanceManager.UnknownGroup | Api.GroupNotFound | EventQueueFull | SqlError.SqlError,
    R
  >
) =>
  Effect.catchTags(effect, {
    ...commonErrors,
    UnknownGroup: (error) =>
      new Api.GroupNotFound({ tenant: error.tenant, group: error.group, message: error.message })
  })

/** The handlers on `manager`; needs the manager's `SqlClient`. */
export const layer = (manager: InstanceManager.InstanceManager) => {
  const instances = HttpApiBuilder.group(Api.InstancesApi, "instances", (handlers) =>
    handlers
      .handle("health", ({ path }) =>
        instanceErrors(manager.reportHealth(path.instanceId)).pipe(Effect.as(path))
      )
      .handle("disconnect", ({ path }) =>
        instanceErrors(manager.reportDisconnect(path.instanceId)).pipe(Effect.as(path))
      )
      .handle("drainAck", ({ path }) =>
        instanceErrors(manager.drainAck(path.instanceId)).pipe(Effect.as(path))
      )
      .handle("terminationNotice", ({ path }) =>
        instanceErrors(manager.terminationNotice(path.instanceId)).pipe(Effect.as(path))
      )
  )
  const groups = HttpApiBuilder.group(Api.InstancesApi, "groups", (handlers) =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const view = (tenant: string, key: string) =>
        Effect.gen(function* () {
          const found = yield* GroupStore.get(tenant, key)
          if (Option.isNone(found)) {
            return yield* new Api.GroupNotFound({
              tenant,
              group: key,
              message: `No group "${key}" in tenant "${tenant}": add it to the config file first`
            })
          }
          const status = yield* manager.status.get
          return {
            tenant,
            key,
            desiredSize: found.value.desiredSize,
            deleted: found.value.deletedAt !== null,
            status: status.groups[ManagerStatus.groupKey(tenant, key)] ?? null
          }
        }).pipe(Effect.provideService(SqlClient.SqlClient, sql))
      return handlers
        .handle("get", ({ path, urlParams }) => groupErrors(view(urlParams.tenant ?? "default", path.key)))
        .handle("setDesired", ({ path, urlParams, payload }) => {
          const tenant = urlParams.tenant ?? "default"
          return groupErrors(
            Effect.zipRight(manager.setDesired(tenant, path.key, payload.desiredSize), view(tenant, path.key))
          )
        })
    })
  )
  return HttpApiBuilder.api(Api.InstancesApi).pipe(Layer.provide(instances), Layer.provide(groups))
}
