import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["@converge/testing/globalSetup"],
    // The playground starts real processes and, in one test, its own embedded Postgres.
    hookTimeout: 60_000,
    testTimeout: 120_000
  }
})
