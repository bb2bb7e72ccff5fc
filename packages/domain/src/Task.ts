/**
 * A task of the task list, in the shape of the API contract (`Task`).
 */
import { Schema } from "effect"
import { TaskId } from "./Ids.js"

export const TaskStatus = Schema.Literal("pending", "in_progress", "completed", "skipped")
export type TaskStatus = typeof TaskStatus.Type

export const TaskType = Schema.Literal("atomic", "group", "phase")
export type TaskType = typeof TaskType.Type

/**
 * Acceptance criteria by name. Machine-checked ones use the seed's names
 * (`test.coverage: "≥80%"`, `type.strict: "0 errors"`, `doc.updated: "task_outcomes.md"`);
 * free-text criteria bullets are kept as `acceptance.<n>`.
 */
export const TaskCriteria = Schema.Record({ key: Schema.String, value: Schema.String })
export type TaskCriteria = typeof TaskCriteria.Type

export class Task extends Schema.Class<Task>("Task")({
  id: TaskId,
  title: Schema.String,
  description: Schema.String,
  type: TaskType,
  dependencies: Schema.Array(TaskId),
  files: Schema.Array(Schema.String),
  criteria: TaskCriteria,
  /** The phase number the task belongs to (0 when the list has no phases). */
  phase: Schema.Int.pipe(Schema.nonNegative()),
  status: TaskStatus
}) {}

/** A task whose work is finished as far as selection is concerned. */
export const isDone = (status: TaskStatus): boolean => status === "completed" || status === "skipped"
