/**
 * node-postgres connection settings shared by the pool of `PgDatabase` and the dedicated
 * connections of `PgLeaderGate` and `Notifications`.
 */
import type { PgClient } from "@effect/sql-pg"
import { Duration, Redacted } from "effect"
import type pg from "pg"

/** The text of a value that may be given redacted (a URL, a password). */
export const reveal = (value: Redacted.Redacted | string): string =>
  typeof value === "string" ? value : Redacted.value(value)

/** TCP keepalive on, probing after `idle` without traffic, so a dead peer is noticed on an idle connection. */
export const tcpKeepAlive = (
  idle: Duration.Duration
): Required<Pick<pg.ClientConfig, "keepAlive" | "keepAliveInitialDelayMillis">> => ({
  keepAlive: true,
  keepAliveInitialDelayMillis: Duration.toMillis(idle)
})

/** Settings to connect to `url`, shown as `applicationName` in `pg_stat_activity`. */
export const fromUrl = (url: string, applicationName: string): pg.ClientConfig => ({
  connectionString: url,
  application_name: applicationName
})

/** Settings to connect where a `PgClient` connects, shown as `applicationName` in `pg_stat_activity`. */
export const fromPgClientConfig = (
  config: PgClient.PgClientConfig,
  applicationName: string
): pg.ClientConfig => ({
  connectionString: config.url === undefined ? undefined : Redacted.value(config.url),
  host: config.host,
  port: config.port,
  user: config.username,
  password: config.password === undefined ? undefined : Redacted.value(config.password),
  database: config.database,
  ssl: config.ssl,
  application_name: applicationName
})
