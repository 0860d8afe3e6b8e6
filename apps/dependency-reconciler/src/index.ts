/** Dependency policies and their pure evaluation. */
export * as Policy from "./Policy.js"
