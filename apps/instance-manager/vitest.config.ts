import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["@converge/testing/globalSetup"],
    // Each test file creates its own database on the shared embedded Postgres.
    hookTimeout: 60_000,
    testTimeout: 60_000
  }
})
