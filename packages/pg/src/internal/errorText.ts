/** The message of a caught value, for error messages and logs: an `Error`'s message, else the value as text. */
export const errorText = (error: unknown): string =>
  error instanceof Error ? error.message : error === undefined ? "no details" : String(error)
