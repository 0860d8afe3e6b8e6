/** Placeholder barrel; modules are added by the foundation issue. */
export {}
