/**
 * Turns a Postgres error into one of four tagged errors by its SQLSTATE, so callers can
 * `catchTag` on what happened rather than parse codes:
 *
 * | class                 | SQLSTATE                                              | meaning                                   |
 * |-----------------------|-------------------------------------------------------|-------------------------------------------|
 * | `Contention`          | 40001 serialization_failure, 40P01 deadlock_detected, 55P03 lock_not_available | the transaction was rolled back; running it again may succeed |
 * | `Conflict`            | 23505 unique_violation, 23P01 exclusion_violation     | the row conflicts with one that exists    |
 * | `TransientConnection` | 08xxx, 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now; or no SQLSTATE and the socket failed (ECONNRESET…) | the connection is gone; a new one may work |
 * | `Other`               | anything else                                         | a bug, bad data or a setting to fix       |
 *
 * `@effect/sql` wraps the driver's error in a `SqlError` whose `cause` is node-postgres'
 * `DatabaseError` (`code`, `constraint`, `table`, `detail`); `classify` looks through that
 * wrapping (and through any `cause` chain an app adds on top).
 */
import { Data, Predicate } from "effect"

/** The four classes of Postgres error. */
export type Kind = "Contention" | "Conflict" | "TransientConnection" | "Other"

/** What every classified error carries. */
export interface Details {
  /** The SQLSTATE (`40001`…); `undefined` when the error never came from the server (a reset socket). */
  readonly code: string | undefined
  /** The server's (or driver's) message, followed by the SQLSTATE when there is one. */
  readonly message: string
  /** The constraint that was violated, when the server names one (e.g. `orders_pkey`). */
  readonly constraint: string | undefined
  /** The table involved, when the server names one. */
  readonly table: string | undefined
  /** The server's detail line, e.g. `Key (id)=(1) already exists.` */
  readonly detail: string | undefined
  /** The original error (usually a `SqlError`). */
  readonly cause: unknown
}

/** The transaction lost a race (serialization failure, deadlock, `NOWAIT` lock) and was rolled back: safe to run again. */
export class Contention extends Data.TaggedError("Contention")<Details> {}

/** A unique or exclusion constraint rejected the row: it conflicts with one that already exists. */
export class Conflict extends Data.TaggedError("Conflict")<Details> {}

/** The connection failed or the server is shutting down / starting up: a new connection may work. */
export class TransientConnection extends Data.TaggedError("TransientConnection")<Details> {}

/** Any other database error: retrying will not help. */
export class Other extends Data.TaggedError("Other")<Details> {}

/** A classified Postgres error. */
export type Classified = Contention | Conflict | TransientConnection | Other

const contentionCodes: ReadonlySet<string> = new Set(["40001", "40P01", "55P03"])
const conflictCodes: ReadonlySet<string> = new Set(["23505", "23P01"])
const transientConnectionCodes: ReadonlySet<string> = new Set(["57P01", "57P02", "57P03"])
const socketErrorCodes: ReadonlySet<string> = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN"
])
// What node-postgres says when a connection dies under it (these errors carry no code).
const lostConnectionMessage = /^Connection terminated|connection error and is not queryable/
const maxCauseDepth = 8

/** The class of a SQLSTATE. */
export const kindOf = (sqlState: string): Kind => {
  if (contentionCodes.has(sqlState)) return "Contention"
  if (conflictCodes.has(sqlState)) return "Conflict"
  if (sqlState.startsWith("08") || transientConnectionCodes.has(sqlState)) return "TransientConnection"
  return "Other"
}

/** The SQLSTATE of a Postgres error, looking through `SqlError` and other `cause` wrappers. */
export const sqlState = (error: unknown): string | undefined => findServerError(error)?.code

/**
 * Classifies `error` (a `SqlError`, a driver error, or anything wrapping one in `cause`); an
 * already classified error is returned as is. Never fails: what is not recognised is `Other`.
 */
export const classify = (error: unknown): Classified => {
  if (isClassified(error)) return error
  const server = findServerError(error)
  if (server !== undefined) {
    const details: Details = {
      code: server.code,
      message: `${server.message} (SQLSTATE ${server.code})`,
      constraint: optionalString(server.error, "constraint"),
      table: optionalString(server.error, "table"),
      detail: optionalString(server.error, "detail"),
      cause: error
    }
    switch (kindOf(server.code)) {
      case "Contention":
        return new Contention(details)
      case "Conflict":
        return new Conflict(details)
      case "TransientConnection":
        return new TransientConnection(details)
      case "Other":
        return new Other(details)
    }
  }
  const details: Details = {
    code: undefined,
    message: describe(error),
    constraint: undefined,
    table: undefined,
    detail: undefined,
    cause: error
  }
  return isLostConnection(error) ? new TransientConnection(details) : new Other(details)
}

/** Whether `error` is (or wraps) contention: 40001, 40P01 or 55P03. */
export const isContention = (error: unknown): boolean => classify(error)._tag === "Contention"

/** Whether `error` is (or wraps) a lost or refused connection. */
export const isTransientConnection = (error: unknown): boolean =>
  classify(error)._tag === "TransientConnection"

const isClassified = (error: unknown): error is Classified =>
  error instanceof Contention ||
  error instanceof Conflict ||
  error instanceof TransientConnection ||
  error instanceof Other

interface ServerError {
  readonly error: object
  readonly code: string
  readonly message: string
}

const causes = function* (error: unknown): Generator<unknown> {
  let current = error
  for (let depth = 0; depth < maxCauseDepth && current !== undefined && current !== null; depth++) {
    yield current
    current = Predicate.hasProperty(current, "cause") ? current.cause : undefined
  }
}

// A server error is node-postgres' DatabaseError: a five-character code plus a severity (which
// also tells it apart from a Node socket error such as EPIPE).
const findServerError = (error: unknown): ServerError | undefined => {
  for (const candidate of causes(error)) {
    if (
      Predicate.isObject(candidate) &&
      Predicate.hasProperty(candidate, "code") &&
      Predicate.hasProperty(candidate, "severity") &&
      typeof candidate.code === "string" &&
      /^[0-9A-Z]{5}$/.test(candidate.code)
    ) {
      return { error: candidate, code: candidate.code, message: messageOf(candidate) }
    }
  }
  return undefined
}

const isLostConnection = (error: unknown): boolean => {
  for (const candidate of causes(error)) {
    if (Predicate.hasProperty(candidate, "code") && typeof candidate.code === "string") {
      if (socketErrorCodes.has(candidate.code)) return true
    }
    if (candidate instanceof Error && lostConnectionMessage.test(candidate.message)) return true
  }
  return false
}

// The first message that says more than "Failed to execute statement": past @effect/sql's wrapper.
const describe = (error: unknown): string => {
  for (const candidate of causes(error)) {
    const text = messageOf(candidate)
    if (text !== "" && !Predicate.isTagged(candidate, "SqlError")) return text
  }
  return messageOf(error) || "Unknown database error"
}

const messageOf = (error: unknown): string =>
  Predicate.hasProperty(error, "message") && typeof error.message === "string"
    ? error.message
    : typeof error === "string"
      ? error
      : ""

const optionalString = (error: object, key: string): string | undefined => {
  const value: unknown = Predicate.hasProperty(error, key) ? error[key] : undefined
  return typeof value === "string" ? value : undefined
}
