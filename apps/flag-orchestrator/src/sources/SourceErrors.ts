/**
 * Turning HTTP and decoding failures into categorized `SourceError`s and the `Result` they call for.
 *
 * HTTP statuses follow the FDv2 reference: 400, 408 and 429 are transient like every 5xx; any
 * other 4xx (401, 403, 404, …) is terminal — retrying with the same credentials cannot help.
 * Messages name the endpoint and the category, never a URL, key or payload.
 */
import { Option } from "effect"
import type * as Protocol from "../Protocol.js"
import * as Source from "../Source.js"

/** Which endpoint a message is about. */
export type EndpointName = "streaming" | "polling" | "FDv1 polling"

const recoverable4xx = new Set([400, 408, 429])

/** True when an HTTP `status` means the request may succeed later. */
export const isRecoverableStatus = (status: number): boolean =>
  status < 400 || status >= 500 || recoverable4xx.has(status)

/** The error of an unexpected HTTP `status` from `endpoint`. */
export const httpStatus = (endpoint: EndpointName, status: number): Source.SourceError =>
  new Source.SourceError({
    category: "http-status",
    status: Option.some(status),
    message: `HTTP ${status} from the ${endpoint} endpoint`
  })

/** `Interrupted` for a recoverable status, `Terminal` for any other. */
export const fromStatus = (endpoint: EndpointName, status: number): Source.Result =>
  isRecoverableStatus(status)
    ? Source.Result.Interrupted({ error: httpStatus(endpoint, status) })
    : Source.Result.Terminal({ error: httpStatus(endpoint, status) })

/** The error of a request that failed before or while receiving a response. */
export const network = (endpoint: EndpointName): Source.SourceError =>
  new Source.SourceError({
    category: "network-error",
    status: Option.none(),
    message: `network error on the ${endpoint} endpoint`
  })

/** The error of a request that took too long. */
export const timeout = (endpoint: EndpointName): Source.SourceError =>
  new Source.SourceError({
    category: "timeout",
    status: Option.none(),
    message: `the ${endpoint} endpoint did not answer in time`
  })

/** The error of a stream that stayed silent (not even a heart-beat) for longer than its read timeout. */
export const silent = (endpoint: EndpointName): Source.SourceError =>
  new Source.SourceError({
    category: "timeout",
    status: Option.none(),
    message: `the ${endpoint} endpoint sent nothing for longer than the read timeout`
  })

/** The error of input that could not be decoded; its message already avoids echoing the payload. */
export const fromDecode = (endpoint: EndpointName, error: Protocol.DecodeError): Source.SourceError =>
  new Source.SourceError({
    category: error._tag === "PayloadTooLargeError" ? "payload-too-large" : "invalid-data",
    status: Option.none(),
    message: `${endpoint} endpoint sent invalid data: ${error.message}`
  })

/** The error of an SSE event larger than the limit (found by the SSE parser before it was complete). */
export const eventTooLarge = (limitBytes: number): Source.SourceError =>
  new Source.SourceError({
    category: "payload-too-large",
    status: Option.none(),
    message: `streaming endpoint sent an event larger than the ${limitBytes}-byte limit`
  })

/** The error of a response that decoded but carried no complete payload. */
export const noPayload = (endpoint: EndpointName): Source.SourceError =>
  new Source.SourceError({
    category: "invalid-data",
    status: Option.none(),
    message: `${endpoint} response carried no complete payload`
  })
