/**
 * SELECT and everything derived from it, as pure functions over a parsed task list, the journaled
 * injections (`POST /tasks/inject`) and task edits (`PUT /repository/tasks/...`).
 *
 * The effective list is the file's tasks with the edits applied and the injected tasks placed:
 * - `priority`: at the front, earlier injections first, so it runs before every other selectable task;
 * - `replace`: right after the replaced task, which becomes `skipped`; it takes the replaced task's parent,
 *   phase and dependencies (own and inherited), and every task that depended on the replaced one now
 *   also waits for it;
 * - `positional`: right after the anchor (after the anchor's subtree and after earlier injections placed
 *   after the same anchor), in the anchor's parent, and it depends on the anchor.
 * An injected task is written into the file, ticked, when it completes (an `(injected)` line, see
 * TaskListRenderer.addInjected); from then on the file's line is the task.
 * SELECT picks the first atomic task in that order that is not done and whose dependencies are all done.
 */
import { Data, Either, Schema } from "effect"
import { BadRequest, TaskNotFound } from "./Errors.js"
import { TaskId } from "./Ids.js"
import type { TaskPatch } from "./Injection.js"
import { InjectedTask, InjectionMode } from "./Injection.js"
import * as TaskGraph from "./internal/taskGraph.js"
import type { TaskStatus } from "./Task.js"
import { isDone, Task } from "./Task.js"
import type { TaskList } from "./TaskList.js"
import { Diagnostic, summary } from "./TaskList.js"

/** Task edits by id, as a map or as journal-ordered pairs (a later pair wins). */
export type Patches = ReadonlyMap<TaskId, TaskPatch> | ReadonlyArray<readonly [TaskId, TaskPatch]>

/** The list SELECT works on: file tasks with edits applied and injected tasks placed, in order. */
export interface EffectiveTaskList {
  readonly tasks: ReadonlyArray<Task>
  /** `parents[i]` is the index of the parent of `tasks[i]` in `tasks`, or -1. */
  readonly parents: ReadonlyArray<number>
  /** Source line of each task, 0 for injected tasks. */
  readonly lines: ReadonlyArray<number>
  /** Position of each task id in `tasks`. */
  readonly indexById: ReadonlyMap<string, number>
  /** Problems with the injections or edits (missing anchors, duplicate ids, unknown ids). */
  readonly diagnostics: ReadonlyArray<Diagnostic>
}

interface Entry {
  task: Task
  parent: Entry | null
  line: number
  /** Anchor id for positional injections (to keep several injections after one anchor in order). */
  anchor: string | null
  position: number
}

const withFields = (task: Task, fields: Partial<Omit<Task, "id" | "type">>): Task =>
  new Task({ ...task, ...fields }, true)

const patchEntries = (patches: Patches): Array<readonly [TaskId, TaskPatch]> => {
  const out: Array<readonly [TaskId, TaskPatch]> = []
  for (const entry of patches) out.push(entry)
  return out
}

const mergeIds = (...lists: ReadonlyArray<ReadonlyArray<TaskId>>): Array<TaskId> => [...new Set(lists.flat())]

/** Applies edits and places injections. Never fails: problems become diagnostics. */
export const effective = (
  list: TaskList,
  injections: ReadonlyArray<InjectedTask> = [],
  patches: Patches = []
): EffectiveTaskList => {
  const diagnostics: Array<Diagnostic> = []
  const entries: Array<Entry> = []
  const byId = new Map<string, Entry>()
  list.tasks.forEach((task, i) => {
    const source = list.sources[i]
    const parentId = source?.parentId ?? null
    const entry: Entry = {
      task,
      parent: parentId === null ? null : byId.get(parentId) ?? null,
      line: source?.line ?? 0,
      anchor: null,
      position: -1
    }
    entries.push(entry)
    byId.set(task.id, entry)
  })

  const front: Array<Entry> = []
  const replaced = new Set<Entry>()
  const isUnder = (entry: Entry, ancestor: Entry): boolean => {
    for (let p = entry.parent; p !== null; p = p.parent) if (p === ancestor) return true
    return false
  }
  // Injected tasks written into the file when they completed (`(injected)` lines): the file's line is
  // the task; a replacement still keeps the task it replaced skipped.
  const writtenBack = new Set<string>()
  list.sources.forEach((source, i) => {
    const id = list.tasks[i]?.id
    if (source.injected && id !== undefined) writtenBack.add(id)
  })
  const sorted = [...injections].sort((a, b) => a.order - b.order)
  for (const injection of sorted) {
    const task = injection.task
    if (byId.has(task.id)) {
      if (!writtenBack.has(task.id)) {
        diagnostics.push(
          new Diagnostic({ line: 0, message: `injected task ${task.id} duplicates an existing task id; ignored` }, true)
        )
      } else if (injection.mode === "replace" && injection.replaceTaskId !== undefined) {
        const target = byId.get(injection.replaceTaskId)
        if (target !== undefined && target.task.type === "atomic") replaced.add(target)
      }
      continue
    }
    const injected: Entry = {
      task: withFields(task, { dependencies: mergeIds(task.dependencies) }),
      parent: null,
      line: 0,
      anchor: null,
      position: -1
    }
    if (injection.mode === "priority") {
      front.push(injected)
    } else if (injection.mode === "replace") {
      const targetId = injection.replaceTaskId
      const target = targetId === undefined ? undefined : byId.get(targetId)
      if (target === undefined || target.task.type !== "atomic" || replaced.has(target)) {
        diagnostics.push(
          new Diagnostic({
            line: 0,
            message: `injected task ${task.id} replaces ${
              targetId ?? "(none)"
            }, which is not a replaceable atomic task; placed at the end`
          }, true)
        )
        entries.push(injected)
      } else {
        replaced.add(target)
        injected.parent = target.parent
        injected.task = withFields(injected.task, {
          phase: target.task.phase,
          dependencies: mergeIds(target.task.dependencies, task.dependencies)
        })
        for (const entry of [...front, ...entries]) {
          if (entry.task.dependencies.includes(target.task.id)) {
            entry.task = withFields(entry.task, { dependencies: mergeIds(entry.task.dependencies, [task.id]) })
          }
        }
        const at = entries.indexOf(target)
        const pos = at < 0 ? front.indexOf(target) : at
        if (at >= 0) entries.splice(pos + 1, 0, injected)
        else front.splice(pos + 1, 0, injected)
      }
    } else {
      const anchorId = injection.afterTaskId
      const anchor = anchorId === undefined ? undefined : byId.get(anchorId)
      injected.task = withFields(injected.task, {
        dependencies: mergeIds(task.dependencies, anchorId === undefined ? [] : [anchorId])
      })
      if (anchor === undefined || anchorId === undefined) {
        diagnostics.push(
          new Diagnostic({
            line: 0,
            message: `injected task ${task.id} goes after ${
              anchorId ?? "(none)"
            }, which does not exist; placed at the end, waiting on it`
          }, true)
        )
        entries.push(injected)
      } else {
        injected.parent = anchor.parent
        injected.anchor = anchorId
        injected.task = withFields(injected.task, { phase: anchor.task.phase })
        const inFront = front.includes(anchor)
        const sequence = inFront ? front : entries
        let pos = sequence.indexOf(anchor) + 1
        while (pos < sequence.length) {
          const next = sequence[pos]
          if (next === undefined || !(isUnder(next, anchor) || next.anchor === anchorId)) break
          pos++
        }
        sequence.splice(pos, 0, injected)
      }
    }
    byId.set(task.id, injected)
  }

  const all = [...front, ...entries]

  // Edits. A status edit on a group or phase applies to every task inside it without its own status edit.
  const ownStatus = new Map<Entry, TaskStatus>()
  const containerStatus = new Map<Entry, TaskStatus>()
  for (const [id, patch] of patchEntries(patches)) {
    const entry = byId.get(id)
    if (entry === undefined) {
      diagnostics.push(new Diagnostic({ line: 0, message: `edit of unknown task ${id}; ignored` }, true))
      continue
    }
    const fields: { title?: string; description?: string } = {}
    if (patch.title !== undefined) fields.title = patch.title
    if (patch.description !== undefined) fields.description = patch.description
    if (fields.title !== undefined || fields.description !== undefined) entry.task = withFields(entry.task, fields)
    if (patch.status !== undefined) {
      if (entry.task.type === "atomic") ownStatus.set(entry, patch.status)
      else containerStatus.set(entry, patch.status)
    }
  }
  for (const entry of all) {
    if (entry.task.type !== "atomic") continue
    let status = ownStatus.get(entry)
    for (let p = entry.parent; status === undefined && p !== null; p = p.parent) status = containerStatus.get(p)
    if (replaced.has(entry)) status = "skipped"
    if (status !== undefined && status !== entry.task.status) entry.task = withFields(entry.task, { status })
  }

  // Container status: completed when everything inside is done, otherwise pending.
  all.forEach((entry, i) => {
    entry.position = i
  })
  const indexById = new Map<string, number>()
  all.forEach((entry, i) => indexById.set(entry.task.id, i))
  const parents = all.map((entry) => entry.parent === null ? -1 : entry.parent.position)
  const done = all.map((entry) => entry.task.type === "atomic" ? isDone(entry.task.status) : true)
  for (let i = all.length - 1; i >= 0; i--) {
    const p = parents[i] ?? -1
    if (p >= 0 && done[i] !== true) done[p] = false
  }
  all.forEach((entry, i) => {
    if (entry.task.type === "atomic") return
    const status: TaskStatus = done[i] === true ? "completed" : "pending"
    if (entry.task.status !== status) entry.task = withFields(entry.task, { status })
  })

  return {
    tasks: all.map((entry) => entry.task),
    parents,
    lines: all.map((entry) => entry.line),
    indexById,
    diagnostics
  }
}

/** The effective tasks (all types), in effective order. */
export const effectiveTasks = (
  list: TaskList,
  injections: ReadonlyArray<InjectedTask> = [],
  patches: Patches = []
): ReadonlyArray<Task> => effective(list, injections, patches).tasks

const graphOf = (view: EffectiveTaskList): TaskGraph.Graph =>
  TaskGraph.build(
    view.indexById,
    view.tasks.map((task, i) => ({
      id: task.id,
      type: task.type,
      status: task.status,
      parent: view.parents[i] ?? -1,
      dependencies: task.dependencies,
      line: view.lines[i] ?? 0
    }))
  )

/** A pending task that cannot run, and the dependencies it still waits on. */
export class Blocker extends Schema.Class<Blocker>("Blocker")({
  taskId: TaskId,
  waitingOn: Schema.Array(TaskId)
}) {}

/** The outcome of SELECT. */
export type Selection = Data.TaggedEnum<{
  /** The next task to run. */
  Selected: { readonly task: Task }
  /** Tasks remain but none can run: the execution fails naming these blockers. */
  Blocked: { readonly blockers: ReadonlyArray<Blocker> }
  /** Nothing remains: the execution completes. */
  Finished: {}
}>
export const Selection = Data.taggedEnum<Selection>()

const toBlockers = (view: EffectiveTaskList, blocked: ReadonlyArray<TaskGraph.Blocker>): Array<Blocker> =>
  blocked.flatMap(({ index, waitingOn }) => {
    const task = view.tasks[index]
    return task === undefined ? [] : [new Blocker({ taskId: task.id, waitingOn }, true)]
  })

const selectIn = (view: EffectiveTaskList): Selection => {
  const simulation = TaskGraph.simulate(graphOf(view), 1)
  const first = simulation.order[0]
  const task = first === undefined ? undefined : view.tasks[first]
  if (task !== undefined) return Selection.Selected({ task })
  const blockers = toBlockers(view, simulation.blocked)
  return blockers.length === 0 ? Selection.Finished() : Selection.Blocked({ blockers })
}

/** SELECT: deterministic for a given list, injections and edits. */
export const select = (
  list: TaskList,
  injections: ReadonlyArray<InjectedTask> = [],
  patches: Patches = []
): Selection => selectIn(effective(list, injections, patches))

/** The body of `GET /repository/plan/{projectId}`. */
export class Plan extends Schema.Class<Plan>("Plan")({
  order: Schema.Array(TaskId),
  blocked: Schema.Array(Blocker),
  diagnostics: Schema.Array(Diagnostic)
}) {}

const planIn = (list: TaskList, view: EffectiveTaskList): Plan => {
  const graph = graphOf(view)
  const simulation = TaskGraph.simulate(graph)
  const diagnostics: Array<Diagnostic> = []
  const seen = new Set<string>()
  const add = (diagnostic: Diagnostic) => {
    const key = `${diagnostic.line}:${diagnostic.message}`
    if (seen.has(key)) return
    seen.add(key)
    diagnostics.push(diagnostic)
  }
  list.diagnostics.forEach(add)
  view.diagnostics.forEach(add)
  for (const cycle of simulation.cycles) {
    add(
      new Diagnostic({ line: TaskGraph.cycleLine(graph, cycle), message: TaskGraph.cycleMessage(graph, cycle) }, true)
    )
  }
  return new Plan({
    order: simulation.order.flatMap((i) => {
      const task = view.tasks[i]
      return task === undefined ? [] : [task.id]
    }),
    blocked: toBlockers(view, simulation.blocked),
    diagnostics
  }, true)
}

/** A dry run of SELECT over the whole list: the order tasks would run in, and why the rest cannot. */
export const plan = (
  list: TaskList,
  injections: ReadonlyArray<InjectedTask> = [],
  patches: Patches = []
): Plan => planIn(list, effective(list, injections, patches))

/** The body of `GET /tasks/next`. */
export class NextTaskView extends Schema.Class<NextTaskView>("NextTaskView")({
  /** The selected task; when blocked, the first blocked task; null when nothing remains. */
  task: Schema.NullOr(Task),
  dependenciesSatisfied: Schema.Boolean,
  totalTasks: Schema.Int.pipe(Schema.nonNegative()),
  completedTasks: Schema.Int.pipe(Schema.nonNegative()),
  progress: Schema.Number
}) {}

export const nextTaskView = (
  list: TaskList,
  injections: ReadonlyArray<InjectedTask> = [],
  patches: Patches = []
): NextTaskView => {
  const view = effective(list, injections, patches)
  const figures = summary(view.tasks)
  const selection = selectIn(view)
  const base = {
    totalTasks: figures.totalTasks,
    completedTasks: figures.completedTasks,
    progress: figures.progress
  }
  return Selection.$match(selection, {
    Selected: ({ task }) => new NextTaskView({ ...base, task, dependenciesSatisfied: true }, true),
    Blocked: ({ blockers }) => {
      const firstId = blockers[0]?.taskId
      const task = view.tasks.find((t) => t.id === firstId) ?? null
      return new NextTaskView({ ...base, task, dependenciesSatisfied: false }, true)
    },
    Finished: () => new NextTaskView({ ...base, task: null, dependenciesSatisfied: true }, true)
  })
}

/** The body of `POST /api/devteam/tasks/inject` (without `projectId`). */
export const InjectionRequest = Schema.Struct({
  task: Schema.Struct({
    id: Schema.optional(TaskId),
    title: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(500)),
    description: Schema.String.pipe(Schema.maxLength(20_000)),
    files: Schema.optional(
      Schema.Array(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(1_000))).pipe(
        Schema.maxItems(200)
      )
    ),
    dependencies: Schema.optional(Schema.Array(TaskId).pipe(Schema.maxItems(100)))
  }),
  mode: InjectionMode,
  replaceTaskId: Schema.optional(TaskId),
  afterTaskId: Schema.optional(TaskId)
})
export type InjectionRequest = typeof InjectionRequest.Type

/** An accepted injection and where it lands in the resulting plan order (0 = runs next). */
export interface PlacedInjection {
  readonly injection: InjectedTask
  /** Index in the plan order; for a task that would be blocked, its index after every runnable task. */
  readonly position: number
}

const nextGeneratedId = (taken: ReadonlySet<string>): TaskId => {
  for (let n = 1;; n++) {
    const candidate = TaskId.make(`E${n}`)
    if (!taken.has(candidate)) return candidate
  }
}

const badRequest = (message: string) => Either.left(new BadRequest({ message }))
const notFound = (taskId: string, message: string) => Either.left(new TaskNotFound({ taskId, message }))

/**
 * Validates an injection request against the current effective list and builds the `InjectedTask` to
 * journal. `TaskNotFound` for a missing `replaceTaskId`/`afterTaskId`/dependency, `BadRequest` for an
 * id collision, a missing or misplaced anchor field, a non-atomic or finished replace target, or a
 * placement that would put the task on a dependency cycle.
 */
export const placeInjection = (
  list: TaskList,
  existing: ReadonlyArray<InjectedTask>,
  patches: Patches,
  request: InjectionRequest
): Either.Either<PlacedInjection, BadRequest | TaskNotFound> => {
  const view = effective(list, existing, patches)
  const byId = new Map<string, Task>()
  for (const task of view.tasks) byId.set(task.id, task)
  const taken = new Set<string>(byId.keys())
  for (const injection of existing) taken.add(injection.task.id)

  const { afterTaskId, mode, replaceTaskId } = request
  if (mode !== "replace" && replaceTaskId !== undefined) {
    return badRequest("replaceTaskId is only allowed with mode \"replace\"")
  }
  if (mode !== "positional" && afterTaskId !== undefined) {
    return badRequest("afterTaskId is only allowed with mode \"positional\"")
  }
  if (request.task.title.trim().length === 0) return badRequest("task.title must not be blank")
  for (const file of request.task.files ?? []) {
    if (/[\0\r\n]/.test(file)) return badRequest("task.files entries must not contain NUL or line breaks")
  }

  let phase = 0
  if (mode === "replace") {
    if (replaceTaskId === undefined) return badRequest("replaceTaskId is required with mode \"replace\"")
    const target = byId.get(replaceTaskId)
    if (target === undefined) return notFound(replaceTaskId, `task ${replaceTaskId} does not exist`)
    if (target.type !== "atomic") {
      return badRequest(`task ${replaceTaskId} is a ${target.type}; only atomic tasks can be replaced`)
    }
    if (isDone(target.status)) return badRequest(`task ${replaceTaskId} is already ${target.status}`)
    phase = target.phase
  } else if (mode === "positional") {
    if (afterTaskId === undefined) return badRequest("afterTaskId is required with mode \"positional\"")
    const anchor = byId.get(afterTaskId)
    if (anchor === undefined) return notFound(afterTaskId, `task ${afterTaskId} does not exist`)
    phase = anchor.phase
  } else {
    const next = selectIn(view)
    phase = next._tag === "Selected" ? next.task.phase : 0
  }

  const requestedId = request.task.id
  if (requestedId !== undefined && taken.has(requestedId)) {
    return badRequest(`task id ${requestedId} is already used`)
  }
  const id = requestedId ?? nextGeneratedId(taken)
  const dependencies = [...new Set(request.task.dependencies ?? [])]
  for (const dependency of dependencies) {
    if (dependency === id) return badRequest(`task ${id} cannot depend on itself`)
    if (!byId.has(dependency)) return notFound(dependency, `dependency ${dependency} does not exist`)
  }

  const order = existing.reduce((max, injection) => Math.max(max, injection.order), 0) + 1
  const injection = new InjectedTask({
    task: new Task({
      id,
      title: request.task.title.trim(),
      description: request.task.description,
      type: "atomic",
      dependencies,
      files: [...new Set(request.task.files ?? [])],
      criteria: {},
      phase,
      status: "pending"
    }),
    mode,
    ...(replaceTaskId === undefined ? {} : { replaceTaskId }),
    ...(afterTaskId === undefined ? {} : { afterTaskId }),
    order
  })

  const after = effective(list, [...existing, injection], patches)
  const graph = graphOf(after)
  const simulation = TaskGraph.simulate(graph)
  const index = graph.index.get(id) ?? -1
  if (simulation.cycles.some((cycle) => cycle.includes(index))) {
    return badRequest(`task ${id} would be part of a dependency cycle`)
  }
  const runs = simulation.order.indexOf(index)
  const position = runs >= 0
    ? runs
    : simulation.order.length + Math.max(0, simulation.blocked.findIndex((b) => b.index === index))
  return Either.right({ injection, position })
}
