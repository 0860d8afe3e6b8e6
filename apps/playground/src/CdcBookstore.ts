/**
 * The sample source of `converge-playground cdc`: a bookstore (authors, books, reviews) created
 * and seeded on the playground's database, and a writer that keeps changing it at a modest rate.
 *
 * ```text
 *   authors ◀── books.author_id        books ◀── reviews.book_id
 *   writer: new reviews, blurb edits, new books, deleted and moved reviews, renamed authors
 * ```
 *
 * `books` and `reviews` log their full old row (`REPLICA IDENTITY FULL`): a review moved to
 * another book or deleted must update the old book's document too.
 */
import { SqlClient, type SqlError } from "@effect/sql"
import { Duration, Effect, Random, Schedule } from "effect"

/** Words the titles, blurbs and reviews are made of: search for any of them. */
export const words = [
  "dragon",
  "river",
  "garden",
  "winter",
  "lantern",
  "harbor",
  "orchard",
  "comet",
  "violin",
  "desert",
  "library",
  "storm"
] as const

const adjectives = ["silent", "golden", "hidden", "restless", "burning", "last", "quiet", "broken"] as const
const names = [
  "Ada",
  "Grace",
  "Alan",
  "Edsger",
  "Barbara",
  "Donald",
  "Frances",
  "Ken",
  "Radia",
  "Leslie"
] as const
const surnames = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson"] as const
const countries = ["UK", "US", "NL", "FR", "JP", "BR"] as const

const pick = <A>(values: ReadonlyArray<A>): Effect.Effect<A> =>
  Effect.map(Random.nextIntBetween(0, values.length), (index) => values[index] as A)

const sentence = Effect.gen(function* () {
  const adjective = yield* pick(adjectives)
  const first = yield* pick(words)
  const second = yield* pick(words)
  return `A ${adjective} tale of the ${first} and the ${second}.`
})

const title = Effect.gen(function* () {
  const adjective = yield* pick(adjectives)
  const noun = yield* pick(words)
  return `The ${adjective[0]?.toUpperCase()}${adjective.slice(1)} ${noun[0]?.toUpperCase()}${noun.slice(1)}`
})

/** Creates the tables when missing and seeds them when empty: 12 authors, 120 books, 360 reviews. */
export const setUp: Effect.Effect<void, SqlError.SqlError, SqlClient.SqlClient> = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql.unsafe(`
    CREATE TABLE IF NOT EXISTS authors (id int PRIMARY KEY, name text NOT NULL, country text);
    CREATE TABLE IF NOT EXISTS books (id int PRIMARY KEY, author_id int NOT NULL REFERENCES authors(id),
                                      title text NOT NULL, year int, blurb text);
    CREATE TABLE IF NOT EXISTS reviews (id int PRIMARY KEY, book_id int NOT NULL REFERENCES books(id),
                                        rating int NOT NULL, body text NOT NULL);
    ALTER TABLE books REPLICA IDENTITY FULL;
    ALTER TABLE reviews REPLICA IDENTITY FULL;
  `)
  const [existing] = yield* sql<{ readonly books: number }>`SELECT count(*)::int AS books FROM books`
  if ((existing?.books ?? 0) > 0) return
  yield* Effect.forEach(
    Array.from({ length: 12 }, (_, index) => index + 1),
    (id) =>
      Effect.gen(function* () {
        const name = `${yield* pick(names)} ${yield* pick(surnames)}`
        yield* sql`INSERT INTO authors VALUES (${id}, ${name}, ${yield* pick(countries)})`
      }),
    { discard: true }
  )
  yield* Effect.forEach(
    Array.from({ length: 120 }, (_, index) => index + 1),
    (id) =>
      Effect.gen(function* () {
        const year = yield* Random.nextIntBetween(1950, 2026)
        yield* sql`INSERT INTO books VALUES (${id}, ${1 + (id % 12)}, ${yield* title}, ${year}, ${yield* sentence})`
      }),
    { discard: true }
  )
  yield* Effect.forEach(
    Array.from({ length: 360 }, (_, index) => index + 1),
    (id) =>
      Effect.gen(function* () {
        const rating = yield* Random.nextIntBetween(1, 6)
        yield* sql`INSERT INTO reviews VALUES (${id}, ${1 + (id % 120)}, ${rating}, ${yield* sentence})`
      }),
    { discard: true }
  )
})

/** One random change to the bookstore; returns what it did, for the writer's count. */
export const change: Effect.Effect<string, SqlError.SqlError, SqlClient.SqlClient> = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const book = sql<{ readonly id: number }>`SELECT id FROM books ORDER BY random() LIMIT 1`.pipe(
    Effect.map(([row]) => row?.id ?? 1)
  )
  const roll = yield* Random.nextIntBetween(0, 20)
  if (roll < 8) {
    yield* sql`INSERT INTO reviews SELECT COALESCE(max(id), 0) + 1, ${yield* book}, ${yield* Random.nextIntBetween(1, 6)}, ${yield* sentence} FROM reviews`
    return "review added"
  }
  if (roll < 12) {
    yield* sql`UPDATE books SET blurb = ${yield* sentence} WHERE id = ${yield* book}`
    return "blurb edited"
  }
  if (roll < 14) {
    const year = yield* Random.nextIntBetween(1950, 2026)
    yield* sql`INSERT INTO books SELECT COALESCE(max(id), 0) + 1, 1 + floor(random() * 12)::int, ${yield* title}, ${year}, ${yield* sentence} FROM books`
    return "book added"
  }
  if (roll < 16) {
    yield* sql`DELETE FROM reviews WHERE id = (SELECT id FROM reviews ORDER BY random() LIMIT 1)`
    return "review deleted"
  }
  if (roll < 18) {
    yield* sql`UPDATE reviews SET book_id = ${yield* book} WHERE id = (SELECT id FROM reviews ORDER BY random() LIMIT 1)`
    return "review moved"
  }
  if (roll < 19) {
    const name = `${yield* pick(names)} ${yield* pick(surnames)}`
    yield* sql`UPDATE authors SET name = ${name} WHERE id = ${yield* Random.nextIntBetween(1, 13)}`
    return "author renamed"
  }
  yield* sql`UPDATE books SET year = year + 1 WHERE id = ${yield* book}`
  return "year changed"
})

/**
 * Changes the bookstore `perSecond` times a second for the rest of the scope, calling `onChange`
 * after each; a failed change (two writers racing for the same new id) is skipped.
 */
export const write = (
  perSecond: number,
  onChange: (what: string) => Effect.Effect<void>
): Effect.Effect<void, never, SqlClient.SqlClient> =>
  change.pipe(
    Effect.flatMap(onChange),
    Effect.catchAll((error) => Effect.logDebug("bookstore writer: change skipped", error)),
    Effect.repeat(Schedule.spaced(Duration.millis(1000 / perSecond))),
    Effect.asVoid
  )
