/**
 * The dependency graph behind SELECT: which tasks are done, which sit on a dependency cycle, which are
 * ready, and the dry run of repeated selection. Linear (plus a heap) in the size of the list.
 *
 * A container (group or phase) is done when all its children are; an atomic task is done when its status
 * says so. An atomic task waits on each of its dependency references (a reference to a container waits on
 * everything inside it; an unknown reference is never satisfied).
 */
import type { TaskId } from "../Ids.js"
import type { TaskStatus, TaskType } from "../Task.js"
import { isDone } from "../Task.js"

export interface GraphNode {
  readonly id: TaskId
  readonly type: TaskType
  readonly status: TaskStatus
  /** Index of the parent node, or -1. Parents come before their children. */
  readonly parent: number
  readonly dependencies: ReadonlyArray<TaskId>
  /** 1-based source line, 0 when none. */
  readonly line: number
}

export interface Graph {
  readonly nodes: ReadonlyArray<GraphNode>
  readonly index: ReadonlyMap<string, number>
  readonly children: ReadonlyArray<ReadonlyArray<number> | undefined>
  /**
   * For each node, the position of each of its dependencies (`nodes[i].dependencies[k]` ↦
   * `refs[i][k]`), -1 when no task has that id. Dependencies are expected to be distinct.
   */
  readonly refs: ReadonlyArray<ReadonlyArray<number>>
}

/** `index` maps each id to its node position (the first one when ids repeat); built when not given. */
export const build = (index: ReadonlyMap<string, number> | null, nodes: ReadonlyArray<GraphNode>): Graph => {
  let ids = index
  if (ids === null) {
    const built = new Map<string, number>()
    for (let i = 0; i < nodes.length; i++) {
      const id = nodes[i]?.id
      if (id !== undefined && !built.has(id)) built.set(id, i)
    }
    ids = built
  }
  const children: Array<Array<number> | undefined> = new Array(nodes.length)
  const refs: Array<Array<number>> = new Array(nodes.length)
  const none: Array<number> = []
  for (let i = 0; i < nodes.length; i++) {
    const node = nodes[i]
    if (node === undefined) continue
    if (node.parent >= 0) {
      const siblings = children[node.parent]
      if (siblings === undefined) children[node.parent] = [i]
      else siblings.push(i)
    }
    const dependencies = node.dependencies
    if (dependencies.length === 0) {
      refs[i] = none
      continue
    }
    const own: Array<number> = new Array(dependencies.length)
    for (let k = 0; k < dependencies.length; k++) own[k] = ids.get(dependencies[k] ?? "") ?? -1
    refs[i] = own
  }
  return { nodes, index: ids, children, refs }
}

/** Done flags before anything runs: atomic by status, containers when all their children are done. */
export const initialDone = (graph: Graph): Array<boolean> => {
  const done = graph.nodes.map((node) => node.type === "atomic" ? isDone(node.status) : true)
  for (let i = graph.nodes.length - 1; i >= 0; i--) {
    const parent = graph.nodes[i]?.parent ?? -1
    if (parent >= 0 && done[i] !== true) done[parent] = false
  }
  return done
}

const successors = (graph: Graph, done: ReadonlyArray<boolean>, v: number): ReadonlyArray<number> => {
  const node = graph.nodes[v]
  if (node === undefined) return []
  if (node.type !== "atomic") return graph.children[v] ?? []
  if (done[v] === true) return []
  return graph.refs[v] ?? []
}

/**
 * Strongly connected components that are cycles (size > 1 or a self-loop), each sorted by position.
 * Done atomic tasks have no outgoing edges: a cycle among finished work blocks nothing.
 */
export const findCycles = (graph: Graph, done: ReadonlyArray<boolean>): Array<Array<number>> => {
  const n = graph.nodes.length
  const order = new Int32Array(n).fill(-1)
  const low = new Int32Array(n)
  const onStack = new Uint8Array(n)
  const stack: Array<number> = []
  const frames: Array<number> = []
  const framePos: Array<number> = []
  const frameEdges: Array<ReadonlyArray<number>> = []
  const cycles: Array<Array<number>> = []
  let counter = 0
  const enter = (v: number) => {
    order[v] = counter
    low[v] = counter
    counter++
    stack.push(v)
    onStack[v] = 1
    frames.push(v)
    framePos.push(0)
    frameEdges.push(successors(graph, done, v))
  }
  for (let s = 0; s < n; s++) {
    if (order[s] !== -1) continue
    enter(s)
    while (frames.length > 0) {
      const top = frames.length - 1
      const v = frames[top] ?? 0
      const edges = frameEdges[top] ?? []
      const pos = framePos[top] ?? 0
      if (pos < edges.length) {
        framePos[top] = pos + 1
        const w = edges[pos] ?? -1
        if (w < 0) continue
        if (order[w] === -1) enter(w)
        else if (onStack[w] === 1) low[v] = Math.min(low[v] ?? 0, order[w] ?? 0)
        continue
      }
      frames.pop()
      framePos.pop()
      frameEdges.pop()
      if (low[v] === order[v]) {
        const component: Array<number> = []
        let w = -1
        do {
          w = stack.pop() ?? v
          onStack[w] = 0
          component.push(w)
        } while (w !== v)
        if (component.length > 1 || edges.includes(v)) cycles.push(component.sort((a, b) => a - b))
      }
      const parentFrame = frames[frames.length - 1]
      if (parentFrame !== undefined) low[parentFrame] = Math.min(low[parentFrame] ?? 0, low[v] ?? 0)
    }
  }
  return cycles.sort((a, b) => (a[0] ?? 0) - (b[0] ?? 0))
}

/** Min-heap of node positions: the earliest ready task in effective order wins. */
class Heap {
  private readonly items: Array<number> = []
  get size(): number {
    return this.items.length
  }
  push(value: number): void {
    const items = this.items
    items.push(value)
    let i = items.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      const parent = items[p] ?? 0
      if (parent <= value) break
      items[i] = parent
      i = p
    }
    items[i] = value
  }
  pop(): number | undefined {
    const items = this.items
    const first = items[0]
    const last = items.pop()
    if (last === undefined || items.length === 0) return first
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      if (l >= items.length) break
      const r = l + 1
      const li = items[l] ?? 0
      const ri = r < items.length ? (items[r] ?? 0) : Number.POSITIVE_INFINITY
      const c = ri < li ? r : l
      const cv = ri < li ? ri : li
      if (last <= cv) break
      items[i] = cv
      i = c
    }
    items[i] = last
    return first
  }
}

export interface Blocker {
  readonly index: number
  readonly waitingOn: ReadonlyArray<TaskId>
}

export interface Simulation {
  /** The order in which pending atomic tasks would be selected. */
  readonly order: ReadonlyArray<number>
  /** Pending atomic tasks that would never be selected, with their unsatisfied references. */
  readonly blocked: ReadonlyArray<Blocker>
  readonly cycles: ReadonlyArray<ReadonlyArray<number>>
}

/**
 * Repeated SELECT, pretending each selected task completed, stopping after `limit` selections.
 * Equivalent to scanning for the first ready task each time: readiness only grows as tasks complete.
 */
export const simulate = (graph: Graph, limit = Number.POSITIVE_INFINITY): Simulation => {
  const { children, nodes, refs } = graph
  const n = nodes.length
  const done = initialDone(graph)
  const cycles = findCycles(graph, done)
  const inCycle = new Uint8Array(n)
  for (const cycle of cycles) for (const v of cycle) inCycle[v] = 1
  const unsatisfied = new Int32Array(n)
  const remaining = new Int32Array(n)
  const dependents: Array<Array<number> | undefined> = new Array(n)
  const heap = new Heap()
  for (let v = 0; v < n; v++) {
    const node = nodes[v]
    if (node === undefined || done[v] === true) continue
    if (node.type !== "atomic") {
      let count = 0
      for (const c of children[v] ?? []) if (done[c] !== true) count++
      remaining[v] = count
      continue
    }
    let count = 0
    for (const ref of refs[v] ?? []) {
      if (ref < 0) count++
      else if (done[ref] !== true) {
        count++
        const list = dependents[ref]
        if (list === undefined) dependents[ref] = [v]
        else list.push(v)
      }
    }
    unsatisfied[v] = count
    if (count === 0 && inCycle[v] === 0) heap.push(v)
  }
  const order: Array<number> = []
  const complete = (start: number) => {
    const work = [start]
    while (work.length > 0) {
      const x = work.pop() ?? start
      if (done[x] === true) continue
      done[x] = true
      for (const d of dependents[x] ?? []) {
        const left = (unsatisfied[d] ?? 0) - 1
        unsatisfied[d] = left
        if (left === 0 && done[d] !== true && inCycle[d] === 0) heap.push(d)
      }
      const p = nodes[x]?.parent ?? -1
      if (p >= 0 && done[p] !== true) {
        const left = (remaining[p] ?? 0) - 1
        remaining[p] = left
        if (left === 0) work.push(p)
      }
    }
  }
  while (order.length < limit) {
    const v = heap.pop()
    if (v === undefined) break
    if (done[v] === true) continue
    order.push(v)
    complete(v)
  }
  const blocked: Array<Blocker> = []
  if (order.length < limit) {
    for (let v = 0; v < n; v++) {
      if (nodes[v]?.type !== "atomic" || done[v] === true) continue
      const waitingOn: Array<TaskId> = []
      const own = refs[v] ?? []
      const dependencies = nodes[v]?.dependencies ?? []
      for (let k = 0; k < own.length; k++) {
        const ref = own[k] ?? -1
        const id = dependencies[k]
        if (id !== undefined && (ref < 0 || done[ref] !== true)) waitingOn.push(id)
      }
      blocked.push({ index: v, waitingOn })
    }
  }
  return { order, blocked, cycles }
}

const MAX_IDS_IN_MESSAGE = 10

/** A readable message for a dependency cycle. */
export const cycleMessage = (graph: Graph, cycle: ReadonlyArray<number>): string => {
  const ids = cycle.slice(0, MAX_IDS_IN_MESSAGE).map((v) => graph.nodes[v]?.id ?? "?")
  const more = cycle.length > MAX_IDS_IN_MESSAGE ? `, … (${cycle.length} tasks)` : ""
  return `dependency cycle among ${ids.join(", ")}${more}: these tasks can never be selected`
}

/** The line to report a cycle on: the first member that has one. */
export const cycleLine = (graph: Graph, cycle: ReadonlyArray<number>): number => {
  for (const v of cycle) {
    const line = graph.nodes[v]?.line ?? 0
    if (line > 0) return line
  }
  return 0
}
