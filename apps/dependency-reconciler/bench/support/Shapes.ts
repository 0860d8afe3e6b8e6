/**
 * The DAG shapes the benchmarks run, as plain node and edge lists that both our `Staging` spec
 * and pg-boss `flow()` jobs are built from, so both sides run exactly the same graphs.
 */
import type { FlowJob } from "pg-boss"
import type * as Staging from "../../src/Staging.js"

/** One DAG: node names and `[upstream, downstream]` edges. */
export interface Dag {
  readonly nodes: ReadonlyArray<string>
  readonly edges: ReadonlyArray<readonly [string, string]>
}

/** A named shape run as `flows` independent copies of `dag`. */
export interface Shape {
  readonly name: string
  readonly dag: Dag
  readonly flows: number
  /** Longest path, in nodes: the number of dependency resolutions in a row. */
  readonly depth: number
}

const names = (prefix: string, count: number) =>
  Array.from({ length: count }, (_, index) => `${prefix}${index}`)

/** `a0 → a1 → … → a(length-1)`. */
export const chain = (length: number): Dag => {
  const nodes = names("a", length)
  return { nodes, edges: nodes.slice(1).map((node, index) => [nodes[index] ?? "", node] as const) }
}

/** One root, `width` children. */
export const fanOut = (width: number): Dag => {
  const children = names("c", width)
  return { nodes: ["root", ...children], edges: children.map((child) => ["root", child] as const) }
}

/** `width` parents, one child waiting on all of them. */
export const fanIn = (width: number): Dag => {
  const parents = names("p", width)
  return { nodes: [...parents, "sink"], edges: parents.map((parent) => [parent, "sink"] as const) }
}

/**
 * `layers` layers of `width` nodes; every node below the first depends on `degree` nodes of the
 * layer above (its own column and the next ones, wrapping around).
 */
export const layered = (layers: number, width: number, degree: number): Dag => {
  const node = (layer: number, column: number) => `l${layer}n${column}`
  const nodes: Array<string> = []
  const edges: Array<readonly [string, string]> = []
  for (let layer = 0; layer < layers; layer++) {
    for (let column = 0; column < width; column++) {
      nodes.push(node(layer, column))
      if (layer === 0) continue
      for (let offset = 0; offset < degree; offset++) {
        edges.push([node(layer - 1, (column + offset) % width), node(layer, column)])
      }
    }
  }
  return { nodes, edges }
}

/** The flow spec our `Staging.stage` takes (every group `all_of`). */
export const toFlowSpec = (dag: Dag, namespace: string): Staging.FlowSpec => ({
  namespace,
  instanceTag: "bench",
  executions: dag.nodes.map((name) => ({ name })),
  edges: dag.edges.map(([upstream, downstream]) => ({ upstream, downstream }))
})

/** The jobs pg-boss `flow()` takes, all on `queue`. */
export const toFlowJobs = (dag: Dag, queue: string): Array<FlowJob> => {
  const upstreams = new Map<string, Array<string>>()
  for (const [upstream, downstream] of dag.edges) {
    upstreams.set(downstream, [...(upstreams.get(downstream) ?? []), upstream])
  }
  return dag.nodes.map((ref) => {
    const dependsOn = upstreams.get(ref)
    return dependsOn === undefined ? { ref, name: queue } : { ref, name: queue, dependsOn }
  })
}

/** Executions across every flow of `shape`. */
export const executionCount = (shape: Shape): number => shape.dag.nodes.length * shape.flows

/** Edges across every flow of `shape`. */
export const edgeCount = (shape: Shape): number => shape.dag.edges.length * shape.flows
