/**
 * The part of node-postgres (`pg`) that the dedicated connections use. `pg` ships no type
 * declarations (and `@types/pg` is not installed), so it is loaded here once and viewed through
 * these interfaces; nothing else in the package touches it.
 */
import { createRequire } from "node:module"
import type { ConnectionOptions } from "node:tls"

/** Connection settings, as `pg.Client` takes them. */
export interface ClientConfig {
  readonly connectionString?: string | undefined
  readonly host?: string | undefined
  readonly port?: number | undefined
  readonly user?: string | undefined
  readonly password?: string | undefined
  readonly database?: string | undefined
  readonly ssl?: boolean | ConnectionOptions | undefined
  readonly application_name?: string | undefined
  readonly keepAlive?: boolean | undefined
  readonly keepAliveInitialDelayMillis?: number | undefined
  readonly connectionTimeoutMillis?: number | undefined
}

/** A row as `pg` returns it: column name to value (`bigint` columns arrive as strings). */
export type Row = Readonly<Record<string, unknown>>

/** A `NOTIFY` received on a connection that `LISTEN`s. */
export interface NotificationMessage {
  readonly processId: number
  readonly channel: string
  readonly payload?: string | undefined
}

/** One connection to the server. */
export interface Client {
  connect(): Promise<void>
  query(text: string, values?: ReadonlyArray<unknown>): Promise<{ readonly rows: ReadonlyArray<Row> }>
  /** Closes gracefully, or at once when a query is in flight or the socket is already dead. */
  end(): Promise<void>
  on(event: "error", listener: (error: Error) => void): Client
  on(event: "end", listener: () => void): Client
  on(event: "notification", listener: (message: NotificationMessage) => void): Client
  off(event: "notification", listener: (message: NotificationMessage) => void): Client
}

interface PgModule {
  readonly Client: new (config: ClientConfig) => Client
  readonly escapeIdentifier: (name: string) => string
}

const require = createRequire(import.meta.url)
const pg: PgModule = require("pg")

/** Creates an unconnected client. */
export const makeClient = (config: ClientConfig): Client => new pg.Client(config)

/** Quotes `name` as an SQL identifier (for `LISTEN`, which takes no parameters). */
export const escapeIdentifier = (name: string): string => pg.escapeIdentifier(name)
