/**
 * Log sequence numbers: a position in the WAL. Postgres writes them `X/Y` (two hex halves of a
 * 64-bit number); here they are `bigint`s so they compare and sort as numbers.
 */

/** A WAL position. */
export type Lsn = bigint

/** `0/0`, before any WAL. */
export const zero: Lsn = 0n

/** Parses `X/Y` (case-insensitive hex); `undefined` when the text is not an LSN. */
export const parse = (text: string): Lsn | undefined => {
  const match = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text)
  if (match === null) return undefined
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`)
}

/** Formats as Postgres does: upper-case hex halves, `16/B374D848`. */
export const format = (lsn: Lsn): string =>
  `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`

/** The later of two positions. */
export const max = (a: Lsn, b: Lsn): Lsn => (a > b ? a : b)
