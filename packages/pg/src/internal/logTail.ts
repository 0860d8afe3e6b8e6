/**
 * Splits the server's output (which arrives in arbitrary chunks) into lines, hands each line
 * to `emit`, and keeps the last `keep` lines for error messages.
 */
export interface LogTail {
  /** Feeds a chunk of output; complete lines are emitted and remembered. */
  readonly write: (chunk: string) => void
  /** The most recent lines, oldest first, including an unterminated last line. */
  readonly lines: () => ReadonlyArray<string>
  /** Forgets the remembered lines, so the next error only shows what follows. */
  readonly clear: () => void
}

/** Builds a LogTail that emits each complete, non-empty line. */
export const make = (emit: (line: string) => void, keep = 30): LogTail => {
  let recent: Array<string> = []
  let partial = ""
  const remember = (line: string) => {
    if (line.trim() === "") return
    recent.push(line)
    if (recent.length > keep) recent = recent.slice(-keep)
    emit(line)
  }
  return {
    write: (chunk) => {
      const parts = (partial + chunk).split(/\r?\n/)
      partial = parts.pop() ?? ""
      for (const line of parts) remember(line)
    },
    lines: () => (partial.trim() === "" ? recent : [...recent, partial]),
    clear: () => {
      recent = []
    }
  }
}
