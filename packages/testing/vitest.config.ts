import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["@converge/testing/globalSetup"],
    // The global setup starts a real Postgres (initdb included): about a second, more under load.
    hookTimeout: 60_000,
    testTimeout: 60_000
  }
})
