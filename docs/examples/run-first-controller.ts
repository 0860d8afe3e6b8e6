/** Runs the first controller and prints the state it converged to: `npx tsx examples/run-first-controller.ts`. */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import { program } from "./first-controller.js"

NodeRuntime.runMain(program.pipe(Effect.flatMap((actual) => Console.log(actual))))
