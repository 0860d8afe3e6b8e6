import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    // test/ runs the examples; examples/*.test.ts are examples of tests and run as they are.
    include: ["test/**/*.test.ts", "examples/**/*.test.ts"],
    globalSetup: ["@converge/testing/globalSetup"],
    // The global setup and the embedded Postgres examples start real servers (initdb included).
    hookTimeout: 60_000
  }
})
