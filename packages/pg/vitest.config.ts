import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Starting a real Postgres (initdb included) takes about a second, more on a loaded machine.
    testTimeout: 60_000,
    hookTimeout: 60_000
  }
})
