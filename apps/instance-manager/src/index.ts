/** The config file: YAML decoded with Schema; errors name the file, the path and the fix. */

/** The sample instance agent: health reports, drain acks on SIGUSR2, clean stop on SIGTERM. */
export * as Agent from "./agent/Agent.js"
/** The `converge-instances` command line. */
export * as Cli from "./Cli.js"
/** Durations in config files: seconds or `500ms`, `30s`, `5m`, `2h`, `1d`. */
export * as DurationText from "./config/DurationText.js"
/** One managed group's settings: size, surge, health, drain, expiry, replacement budget, template. */
export * as GroupConfig from "./config/GroupConfig.js"
export * as ManagerConfig from "./config/ManagerConfig.js"
/** Provider settings: `simulated` or `process`. */
export * as ProviderConfig from "./config/ProviderConfig.js"
/** Retry policies per event type, for creates, and for follow-up checks (core `RetryPolicy`). */
export * as RetryConfig from "./config/RetryConfig.js"
/** The six event types. */
export * as EventType from "./EventType.js"
/** The HTTP API definition (`InstancesApi`): instance calls and group resizing. */
export * as Api from "./http/Api.js"
/** The API's handlers on a running manager. */
export * as ApiHandlers from "./http/ApiHandlers.js"
/** Serving the API with `@effect/platform-node`. */
export * as ApiServer from "./http/ApiServer.js"
/** The manager: controller, leadership, termination notices, status and operations. */
export * as InstanceManager from "./InstanceManager.js"
/** `converge-instances run` composed: config, database, migrations, provider, leader gate, manager, servers. */
export * as Main from "./Main.js"
/** The `converge_instances_*` metrics: a metered provider and notifier, and gauges that follow the status. */
export * as ManagerMetrics from "./ManagerMetrics.js"
/** The status served at `/status`. */
export * as ManagerStatus from "./ManagerStatus.js"
/** The `process` provider: instances are real local processes (state dir, SIGTERM then SIGKILL). */
export * as ProcessProvider from "./provider/ProcessProvider.js"
/** The provider seam: create, delete, describe, list, termination notices; classified errors. */
export * as Provider from "./provider/Provider.js"
/** Simulated agents that report health for running simulated instances. */
export * as SimulatedAgents from "./provider/SimulatedAgents.js"
/** The simulated cloud: latency, failure rate, quota, API token bucket, scripted faults. */
export * as SimulatedProvider from "./provider/SimulatedProvider.js"
/** The global create rate limit (a token bucket on Effect's clock). */
export * as CreateRateLimit from "./reconciler/CreateRateLimit.js"
/** The controller key of a group, `tenant/group`. */
export * as GroupKey from "./reconciler/GroupKey.js"
/** The per-group pass run by the core `Controller`. */
export * as GroupReconciler from "./reconciler/GroupReconciler.js"
/** `NotifyDrain` / `NotifyError` hooks. */
export * as Notifier from "./reconciler/Notifier.js"
/** The pure rules of a pass: scale-down order, budget, expiry, drift, wake-ups. */
export * as Planning from "./reconciler/Planning.js"
/** The stable hash of an instance template, for drift detection. */
export * as TemplateHash from "./reconciler/TemplateHash.js"
/** The durable, bounded event queue with `preventDuplicate` and recorded outcomes. */
export * as EventStore from "./state/EventStore.js"
/** Term-fenced writes (`PgLeaderGate.assertTerm` in the write's transaction). */
export * as Fence from "./state/Fence.js"
/** Groups in Postgres. */
export * as GroupStore from "./state/GroupStore.js"
/** Instances in Postgres, with the surge-capped, fenced `reserve`. */
export * as InstanceStore from "./state/InstanceStore.js"
/** The manager's tables and their migrations. */
export * as Schema from "./state/Schema.js"
