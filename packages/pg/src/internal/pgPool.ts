/**
 * The connection pool of node-postgres (`pg`), which `@effect/sql-pg` runs on. `PgClient.layer`
 * builds its own pool but cannot set a statement timeout or TCP keepalive, so `PgDatabase` builds
 * the pool here and hands it to `PgClient.fromPool`. `pg` ships no type declarations (and
 * `@types/pg` is not installed), so it is viewed through the small interface below.
 */
import { createRequire } from "node:module"
import type { ConnectionOptions } from "node:tls"

/** Pool settings, as `pg.Pool` takes them (only those used here). */
export interface PoolConfig {
  readonly connectionString?: string | undefined
  readonly host?: string | undefined
  readonly port?: number | undefined
  readonly database?: string | undefined
  readonly user?: string | undefined
  readonly password?: string | undefined
  readonly ssl?: boolean | ConnectionOptions | undefined
  readonly application_name: string
  /** Most connections open at once. */
  readonly max: number
  /** Bounds connecting (TCP, TLS, authentication) and waiting for a free pooled connection. */
  readonly connectionTimeoutMillis: number
  /** Sent at connection start-up; unset leaves the server's default. */
  readonly statement_timeout?: number | undefined
  readonly keepAlive: boolean
  readonly keepAliveInitialDelayMillis: number
}

/** A pool of connections. */
export interface Pool {
  query(text: string): Promise<unknown>
  /** Closes every connection; waits for checked-out ones to be released. */
  end(): Promise<void>
  on(event: "error", listener: (error: Error) => void): Pool
}

interface PgModule {
  readonly Pool: new (config: PoolConfig) => Pool
}

const require = createRequire(import.meta.url)
const pg: PgModule = require("pg")

/** Creates a pool; it connects lazily, on first use. */
export const makePool = (config: PoolConfig): Pool => new pg.Pool(config)
