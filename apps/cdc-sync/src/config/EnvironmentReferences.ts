/**
 * `${NAME}` in a string value of the configuration file is replaced by the environment variable
 * `NAME`, so that secrets (a sink's password, a webhook's `authorization` header) stay out of
 * the file. `$${` writes a literal `${`. A variable that is not set is an error naming it and
 * where it is used; keys are never replaced. The environment is read through Effect's `Config`,
 * so a `ConfigProvider` can stand in for it.
 */
import { Config, Effect, Option } from "effect"

/** A `${NAME}` reference whose variable is not set (or not a valid name). */
export interface Unresolved {
  /** Where in the file, as a dot path. */
  readonly path: string
  readonly message: string
}

const reference = /\$\$\{|\$\{([^}]*)\}/g
const validName = /^[A-Za-z_][A-Za-z0-9_]*$/

/** `value` (parsed YAML) with every reference replaced, or every reference that cannot be. */
export const resolve = (value: unknown): Effect.Effect<unknown, ReadonlyArray<Unresolved>> =>
  Effect.gen(function* () {
    const unresolved: Array<Unresolved> = []
    const walk = (node: unknown, path: ReadonlyArray<string>): Effect.Effect<unknown> => {
      if (typeof node === "string") return replaceIn(node, path.join("."), unresolved)
      if (Array.isArray(node)) return Effect.forEach(node, (item, i) => walk(item, [...path, String(i)]))
      if (node !== null && typeof node === "object") {
        return Effect.map(
          Effect.forEach(Object.entries(node), ([key, item]) =>
            Effect.map(walk(item, [...path, key]), (resolved) => [key, resolved] as const)
          ),
          (entries) => Object.fromEntries(entries)
        )
      }
      return Effect.succeed(node)
    }
    const resolved = yield* walk(value, [])
    return unresolved.length === 0 ? resolved : yield* Effect.fail(unresolved)
  })

const replaceIn = (text: string, path: string, unresolved: Array<Unresolved>): Effect.Effect<string> => {
  if (!text.includes("${")) return Effect.succeed(text)
  const parts: Array<Effect.Effect<string>> = []
  let last = 0
  for (const match of text.matchAll(reference)) {
    parts.push(Effect.succeed(text.slice(last, match.index)))
    last = match.index + match[0].length
    const name = match[1]
    if (name === undefined) {
      parts.push(Effect.succeed("${"))
    } else if (!validName.test(name)) {
      unresolved.push({
        path,
        message: `"\${${name}}" is not an environment variable reference (letters, digits and _; write $\${ for a literal \${)`
      })
    } else {
      parts.push(
        Config.option(Config.string(name)).pipe(
          Effect.orElseSucceed(() => Option.none<string>()),
          Effect.map(
            Option.getOrElse(() => {
              unresolved.push({ path, message: `the environment variable ${name} is not set` })
              return ""
            })
          )
        )
      )
    }
  }
  parts.push(Effect.succeed(text.slice(last)))
  return Effect.map(Effect.all(parts), (strings) => strings.join(""))
}
