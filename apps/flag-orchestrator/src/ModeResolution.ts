/**
 * The resolution table: which connection mode the platform signals call for.
 *
 * First match wins:
 *
 * | condition                                   | mode                           |
 * |---------------------------------------------|--------------------------------|
 * | an explicit mode override                   | the override (`offline` → `setOffline`) |
 * | network unavailable                         | `offline` (`networkUnavailable`) |
 * | in the background, not `runInBackground`    | `offline` (`backgroundDisabled`) |
 * | in the background                           | `background`                   |
 * | otherwise                                   | the foreground mode            |
 */
import { Data, Option } from "effect"
import type * as ConnectionMode from "./ConnectionMode.js"
import type * as DataStatus from "./DataStatus.js"

/** A resolved mode; `offlineDetail` is present exactly when `mode` is `offline`. */
export class Resolution extends Data.Class<{
  readonly mode: ConnectionMode.Mode
  readonly offlineDetail: Option.Option<DataStatus.OfflineDetail>
}> {}

/** A resolution to `mode` (an `offline` one counts as asked for: `setOffline`). */
export const to = (mode: ConnectionMode.Mode): Resolution =>
  new Resolution({ mode, offlineDetail: mode === "offline" ? Option.some("setOffline") : Option.none() })

/** A resolution to `offline` for `detail`. */
export const offline = (detail: DataStatus.OfflineDetail): Resolution =>
  new Resolution({ mode: "offline", offlineDetail: Option.some(detail) })

/** What the table looks at. */
export interface Inputs {
  readonly networkAvailable: boolean
  readonly inForeground: boolean
  readonly runInBackground: boolean
  readonly foregroundMode: ConnectionMode.ForegroundMode
  readonly override: Option.Option<ConnectionMode.Mode>
}

/** Resolves `inputs` by the table (first match wins). */
export const resolve = (inputs: Inputs): Resolution => {
  if (Option.isSome(inputs.override)) return to(inputs.override.value)
  if (!inputs.networkAvailable) return offline("networkUnavailable")
  if (!inputs.inForeground && !inputs.runInBackground) return offline("backgroundDisabled")
  if (!inputs.inForeground) return to("background")
  return to(inputs.foregroundMode)
}
