/**
 * One line for people per start and backfill event, for the one-shot `converge-cdc backfill`
 * (written to stderr: stdout belongs to the stdout sink). Other events give no line.
 */
import { Observer } from "@converge/core"
import { Console, Effect } from "effect"
import type { CdcEvent } from "../observe/CdcEvent.js"

/** The line for `event`, if it is one people follow during a backfill. */
export const lineOf = (event: CdcEvent): string | undefined => {
  switch (event._tag) {
    case "PublicationEnsured":
      return event.created
        ? `publication ${event.publication} created for ${event.added.join(", ")}`
        : event.added.length > 0
          ? `publication ${event.publication} extended with ${event.added.join(", ")}`
          : `publication ${event.publication} covers every table`
    case "SlotEnsured":
      return `slot ${event.slot} ${event.created ? "created" : "exists"} (confirmed ${event.confirmedLsn})`
    case "SlotRecreated":
      return `slot ${event.slot} recreated: ${event.reason}; every index is backfilled again`
    case "BackfillStarted":
      return `${event.index}: backfilling ${event.total} root rows`
    case "BackfillProgress": {
      const percent = event.total === 0 ? 100 : Math.floor((event.done / event.total) * 100)
      return `${event.index}: ${event.done}/${event.total} rows (${percent}%), ${event.rowsPerSecond} rows/s, ETA ${event.etaSeconds} s`
    }
    case "IndexSeeded":
      return `${event.index}: seeded, ${event.documents} documents (snapshot at ${event.lsn})`
    case "BackfillSkipped":
      return `${event.index}: skipped (already seeded, or not named; --force backfills it again)`
    case "DocumentQuarantined":
      return `${event.index}: document ${event.id} rejected by sink ${event.sink} (${event.policy}): ${event.reason}`
    case "ReindexInterrupted":
      return `${event.index}: a reindex was interrupted (crash or stop) and its half-built generation is dropped; to finish it, ask the daemon: converge-cdc reindex ${event.index}`
    case "ErrorOccurred":
      return `error: ${event.message}`
    default:
      return undefined
  }
}

/** An observer printing `lineOf` each event to stderr. */
export const observer: Observer.Observer<CdcEvent> = Observer.make((event: CdcEvent) => {
  const line = lineOf(event)
  return line === undefined ? Effect.void : Console.error(line)
})
