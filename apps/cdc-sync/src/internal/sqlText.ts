/** Quotes an SQL identifier: `"name"`, doubling any quote inside. */
export const identifier = (name: string): string => `"${name.replaceAll('"', '""')}"`

/** `"schema"."name"`. */
export const qualified = (schema: string, name: string): string => `${identifier(schema)}.${identifier(name)}`

/** An SQL string literal: `'text'`, doubling any quote inside. */
export const literal = (text: string): string => `'${text.replaceAll("'", "''")}'`
