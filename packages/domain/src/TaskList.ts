/**
 * A parsed task list file: every task in document order (phases, groups and atomic tasks), where each
 * one came from in the file, and the problems found while reading it. Produced by `TaskListParser.parse`,
 * consumed by `TaskSelection` (SELECT, plan, injections) and `TaskListRenderer` (marking tasks done).
 */
import { Schema } from "effect"
import { TaskId } from "./Ids.js"
import { isDone, Task } from "./Task.js"

/** A problem found in the task list (or in the injections applied over it). The list is still usable. */
export class Diagnostic extends Schema.Class<Diagnostic>("Diagnostic")({
  /** 1-based line of the task list file; 0 when the problem is not tied to a line (e.g. an injection). */
  line: Schema.Int.pipe(Schema.nonNegative()),
  message: Schema.String
}) {}

/** The checkbox of a task's line: `[x]`, `[ ]`, or none at all (phase headings have none either). */
export const CheckboxState = Schema.Literal("checked", "unchecked", "none")
export type CheckboxState = typeof CheckboxState.Type

/**
 * Where a task came from in the file; what the renderer and the selector need beyond the API `Task`.
 * A plain struct (not a class): a large list has one per task and construction cost matters.
 */
export const TaskSource = Schema.Struct({
  /** 1-based line of the task's own line. */
  line: Schema.Int.pipe(Schema.positive()),
  /** The enclosing group or phase (by id prefix, else the phase heading above it); null at top level. */
  parentId: Schema.NullOr(TaskId),
  /** The dependencies written on the task's own line (before inheritance and implicit ordering). */
  declaredDependencies: Schema.Array(TaskId),
  checkbox: CheckboxState,
  /**
   * Column (UTF-16 index in the line) of the checkbox's `[`, or where `[x] ` is inserted when the line has
   * none; -1 for a phase heading, which cannot carry a checkbox.
   */
  markColumn: Schema.Int.pipe(Schema.greaterThanOrEqualTo(-1)),
  /** The line sits inside an HTML comment (kept only because its phase is marked completed). */
  commented: Schema.Boolean,
  /** The line carries `(injected)`: a task injected at run time, written into the file when it completed. */
  injected: Schema.Boolean
})
export type TaskSource = typeof TaskSource.Type

/**
 * The parsed list. Invariant: `sources[i]` describes `tasks[i]`; ids are unique; a task's parent comes
 * before it. `Task.dependencies` holds every dependency of the task: inherited from its phase and groups,
 * its own, and (for an atomic task in a group) its previous atomic sibling.
 */
export class TaskList extends Schema.Class<TaskList>("TaskList")({
  tasks: Schema.Array(Task),
  sources: Schema.Array(TaskSource),
  diagnostics: Schema.Array(Diagnostic)
}) {}

/** Progress figures of the API (`totalTasks`, `completedTasks`, `progress`). */
export class TaskSummary extends Schema.Class<TaskSummary>("TaskSummary")({
  /** Atomic tasks only. */
  totalTasks: Schema.Int.pipe(Schema.nonNegative()),
  /** Atomic tasks that are completed or skipped. */
  completedTasks: Schema.Int.pipe(Schema.nonNegative()),
  /** Percent with one decimal (0 when there are no tasks). */
  progress: Schema.Number
}) {}

export const summary = (tasks: ReadonlyArray<Task>): TaskSummary => {
  let totalTasks = 0
  let completedTasks = 0
  for (const task of tasks) {
    if (task.type !== "atomic") continue
    totalTasks++
    if (isDone(task.status)) completedTasks++
  }
  const progress = totalTasks === 0 ? 0 : Math.round((completedTasks * 1000) / totalTasks) / 10
  return new TaskSummary({ totalTasks, completedTasks, progress }, true)
}

/** The index of a task in `list.tasks`, or -1. */
export const indexOf = (list: TaskList, taskId: string): number => list.tasks.findIndex((task) => task.id === taskId)
