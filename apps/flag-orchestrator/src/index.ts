/** The flag orchestrator library; modules are added as the app is built. */
export {}
