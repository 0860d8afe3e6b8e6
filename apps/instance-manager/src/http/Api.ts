/**
 * The instance manager's HTTP API, typed with Schema (`@effect/platform` `HttpApi`):
 *
 * | method and path                                  | what it does                                 |
 * |--------------------------------------------------|----------------------------------------------|
 * | `POST /v1/instances/:id/health`                  | an agent's heartbeat                         |
 * | `POST /v1/instances/:id/disconnect`              | the agent's connection dropped: follow-ups   |
 * | `POST /v1/instances/:id/drain-ack`               | the drain is done: delete now (idempotent)   |
 * | `POST /v1/instances/:id/termination-notice`      | the instance will be taken away: drain + replace |
 * | `GET /v1/groups/:key?tenant=`                    | a group's desired size and figures           |
 * | `PUT /v1/groups/:key?tenant=` `{ desiredSize }`  | sets the desired size                        |
 *
 * A full event queue answers 503 with a message saying to retry; nothing is dropped silently.
 */
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"
import { GroupStatus } from "../ManagerStatus.js"

/** No live instance has this id. */
export class InstanceNotFound extends Schema.TaggedError<InstanceNotFound>()(
  "InstanceNotFound",
  { instanceId: Schema.String, message: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {}

/** No live group has this key in this tenant. */
export class GroupNotFound extends Schema.TaggedError<GroupNotFound>()(
  "GroupNotFound",
  { tenant: Schema.String, group: Schema.String, message: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {}

/** The event queue is full: retry shortly. */
export class QueueFull extends Schema.TaggedError<QueueFull>()(
  "QueueFull",
  { capacity: Schema.Number, message: Schema.String },
  HttpApiSchema.annotations({ status: 503 })
) {}

/** The database failed the request: retry shortly. */
export class DatabaseUnavailable extends Schema.TaggedError<DatabaseUnavailable>()(
  "DatabaseUnavailable",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 503 })
) {}

/** What an instance call accepted. */
export const Accepted = Schema.Struct({ instanceId: Schema.String }).annotations({ identifier: "Accepted" })

/** A group as the API shows it: its desired size, and its figures after the last pass (if any). */
export const GroupView = Schema.Struct({
  tenant: Schema.String,
  key: Schema.String,
  desiredSize: Schema.Number,
  deleted: Schema.Boolean,
  status: Schema.NullOr(GroupStatus)
}).annotations({ identifier: "GroupView" })

/** A new desired size. */
export const DesiredSize = Schema.Struct({
  desiredSize: Schema.Int.pipe(Schema.nonNegative({ message: () => "desiredSize must be 0 or more" }))
}).annotations({ identifier: "DesiredSize" })

const InstancePath = Schema.Struct({ instanceId: Schema.String })
const groupKey = HttpApiSchema.param("key", Schema.String)
const TenantParam = Schema.Struct({ tenant: Schema.optional(Schema.String) })

const instanceCall = <const Name extends string>(name: Name, action: string) =>
  HttpApiEndpoint.post(name, `/v1/instances/:instanceId/${action}`)
    .setPath(InstancePath)
    .addSuccess(Accepted)
    .addError(InstanceNotFound)

/** Calls agents and operators make about one instance. */
export class InstancesGroup extends HttpApiGroup.make("instances")
  .add(instanceCall("health", "health"))
  .add(instanceCall("disconnect", "disconnect"))
  .add(instanceCall("drainAck", "drain-ack"))
  .add(instanceCall("terminationNotice", "termination-notice"))
  .addError(QueueFull)
  .addError(DatabaseUnavailable) {}

/** Reading and resizing groups. */
export class GroupsGroup extends HttpApiGroup.make("groups")
  .add(
    HttpApiEndpoint.get("get")`/v1/groups/${groupKey}`
      .setUrlParams(TenantParam)
      .addSuccess(GroupView)
      .addError(GroupNotFound)
  )
  .add(
    HttpApiEndpoint.put("setDesired")`/v1/groups/${groupKey}`
      .setUrlParams(TenantParam)
      .setPayload(DesiredSize)
      .addSuccess(GroupView)
      .addError(GroupNotFound)
  )
  .addError(QueueFull)
  .addError(DatabaseUnavailable) {}

/** The whole API. */
export class InstancesApi extends HttpApi.make("instances").add(InstancesGroup).add(GroupsGroup) {}
