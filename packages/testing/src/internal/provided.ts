/** The key under which the global setup hands the test server's URL to test files. */
export const databaseUrlKey = "convergeTestDatabaseUrl"

declare module "vitest" {
  export interface ProvidedContext {
    /** The URL of the Postgres server of this test run (its maintenance database, as superuser). */
    convergeTestDatabaseUrl: string
  }
}
