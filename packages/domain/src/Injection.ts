/**
 * Tasks added to a project at run time (`POST /api/devteam/tasks/inject`) and edits of tasks
 * (`PUT /api/devteam/repository/tasks/{projectId}/{taskId}`). Both are journaled; SELECT applies
 * them on top of the parsed task list (see TaskSelection).
 */
import { Schema } from "effect"
import { TaskId } from "./Ids.js"
import { Task, TaskStatus } from "./Task.js"

/** `priority` runs next; `replace` takes the place of `replaceTaskId`; `positional` goes after `afterTaskId`. */
export const InjectionMode = Schema.Literal("priority", "replace", "positional")
export type InjectionMode = typeof InjectionMode.Type

export class InjectedTask extends Schema.Class<InjectedTask>("InjectedTask")({
  task: Task,
  mode: InjectionMode,
  replaceTaskId: Schema.optional(TaskId),
  afterTaskId: Schema.optional(TaskId),
  /** Order of injection within the project (1, 2, …): earlier priority injections run first. */
  order: Schema.Int.pipe(Schema.positive())
}) {}

/** An edit of a task's status or text, applied over what the file says. */
export class TaskPatch extends Schema.Class<TaskPatch>("TaskPatch")({
  status: Schema.optional(TaskStatus),
  title: Schema.optional(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(500))),
  description: Schema.optional(Schema.String.pipe(Schema.maxLength(20_000)))
}) {}
