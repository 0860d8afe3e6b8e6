import { defineConfig } from "vitepress"

export default defineConfig({
  title: "Converge",
  description: "Reconciliation loops on Effect: keep actual state in step with desired state.",
  cleanUrls: true,
  srcExclude: ["examples/**", "test/**", "**/README.md"],
  themeConfig: {
    nav: [
      { text: "Guide", link: "/guide/getting-started" },
      { text: "Primitives", link: "/primitives/controller" },
      { text: "Apps", link: "/apps/dependency-reconciler" },
      { text: "Performance", link: "/performance" }
    ],
    sidebar: [
      {
        text: "Guide",
        items: [
          { text: "Getting started", link: "/guide/getting-started" },
          { text: "Concepts", link: "/guide/concepts" }
        ]
      },
      {
        text: "Primitives (@converge/core)",
        items: [
          { text: "Controller & WorkQueue", link: "/primitives/controller" },
          { text: "Reconciler & Outcome", link: "/primitives/reconciler" },
          { text: "RetryPolicy & Backoff", link: "/primitives/retry-policy" },
          { text: "Debouncer", link: "/primitives/debouncer" },
          { text: "Observer & FanOut", link: "/primitives/observer" },
          { text: "Status", link: "/primitives/status" },
          { text: "LeaderGate", link: "/primitives/leader-gate" },
          { text: "Sweeper", link: "/primitives/sweeper" },
          { text: "Metrics", link: "/primitives/metrics" }
        ]
      },
      {
        text: "Packages",
        items: [
          { text: "@converge/pg", link: "/packages/pg" },
          { text: "@converge/http", link: "/packages/http" },
          { text: "@converge/testing", link: "/packages/testing" }
        ]
      },
      {
        text: "Apps",
        items: [
          { text: "Dependency reconciler", link: "/apps/dependency-reconciler" },
          { text: "Flag orchestrator", link: "/apps/flag-orchestrator" },
          { text: "CDC sync", link: "/apps/cdc-sync" },
          { text: "Instance manager", link: "/apps/instance-manager" }
        ]
      },
      { text: "Performance", link: "/performance" }
    ]
  }
})
