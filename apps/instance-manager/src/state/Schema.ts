/**
 * The instance manager's tables (`im_groups`, `im_instances`, `im_events`,
 * `im_event_successes`), created by migrations run with `@converge/pg` Migrations.
 */
import { Migrations } from "@converge/pg"
import type { SqlClient } from "@effect/sql"
import type { Effect } from "effect"

/** The app name its migrations are recorded under (`converge_migrations_instance_manager`). */
export const app = "instance_manager"

/** The migrations, loaded from `src/state/migrations`. */
export const loader = Migrations.fromDirectory(new URL("./migrations", import.meta.url))

/** Applies the pending migrations (safe from several replicas at once). */
export const migrate: Effect.Effect<
  ReadonlyArray<Migrations.Applied>,
  Migrations.MigrationFailed,
  SqlClient.SqlClient
> = Migrations.run({ app, loader })
