/**
 * The engine's tables and how to create them: migrations run with `@converge/pg` Migrations.
 */
import { Migrations } from "@converge/pg"
import type { SqlClient } from "@effect/sql"
import type { Effect } from "effect"

/** The app name under which the migrations are recorded (`converge_migrations_dependency_reconciler`). */
export const app = "dependency_reconciler"

/** The channel the completion-event trigger NOTIFYs on, with the event id as payload. */
export const notificationChannel = "deps_completion_events"

/** The migrations, loaded from `src/migrations`. */
export const loader = Migrations.fromDirectory(new URL("./migrations", import.meta.url))

/** Applies the pending migrations (safe from several replicas at once). */
export const migrate: Effect.Effect<
  ReadonlyArray<Migrations.Applied>,
  Migrations.MigrationFailed,
  SqlClient.SqlClient
> = Migrations.run({ app, loader })
