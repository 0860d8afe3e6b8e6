/**
 * The relay's `/status` snapshot: the data system's status, whether it is initialized, the mode,
 * where the flags held came from (e.g. `cache` after a restart with the upstream down) and the
 * selector and flag count.
 */
import { Schema } from "effect"
import * as ConnectionMode from "../ConnectionMode.js"
import * as DataStatus from "../DataStatus.js"

/** The relay's status, served at `/status`. */
export class RelayStatus extends Schema.Class<RelayStatus>("RelayStatus")({
  upstream: Schema.String,
  data: DataStatus.DataStatus,
  initialized: Schema.Boolean,
  mode: ConnectionMode.Mode,
  offlineDetail: Schema.NullOr(DataStatus.OfflineDetail),
  /** The source that brought the flags held (`cache`, `polling`, `streaming`, …); null before any data. */
  dataFrom: Schema.NullOr(Schema.String),
  selector: Schema.Struct({ state: Schema.String, version: Schema.Number }),
  flags: Schema.Number
}) {}
