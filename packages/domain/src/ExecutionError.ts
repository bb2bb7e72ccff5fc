/**
 * The record of a failed step (`GET /api/devteam/errors/{executionId}/{errorId}`). Redacted before
 * it is journaled.
 */
import { Schema } from "effect"
import { Step } from "./ExecutionStatus.js"
import { ErrorId, ExecutionId, ProjectId, TaskId, Timestamp } from "./Ids.js"

export const ErrorCategory = Schema.Literal(
  "tool",
  "verify",
  "git",
  "infrastructure",
  "blocked-by-dependencies",
  // no output and no progress for STEP_STALL_TIMEOUT: ended by the stall watchdog
  "stalled"
)
export type ErrorCategory = typeof ErrorCategory.Type

export class ExecutionError extends Schema.Class<ExecutionError>("ExecutionError")({
  errorId: ErrorId,
  executionId: ExecutionId,
  projectId: ProjectId,
  taskId: Schema.NullOr(TaskId),
  step: Step,
  category: ErrorCategory,
  message: Schema.String,
  details: Schema.Unknown,
  logs: Schema.Array(Schema.String),
  attempts: Schema.Int.pipe(Schema.positive()),
  occurredAt: Timestamp
}) {}
