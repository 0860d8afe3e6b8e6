/**
 * What every step of a group pass shares: the group, the leadership term the pass decides under,
 * the time, and the settings. Built once at the start of a pass.
 */
import type { RetryConfig } from "../config/RetryConfig.js"
import type { GroupRecord } from "../state/GroupStore.js"

/** Settings of the reconciler that come from the config file. */
export interface Settings {
  readonly retry: RetryConfig
  readonly eventQueueCapacity: number
}

/** The shared inputs of one pass over one group. */
export interface PassContext {
  readonly group: GroupRecord
  readonly term: number
  readonly now: Date
  readonly settings: Settings
}
