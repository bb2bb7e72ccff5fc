/**
 * Executions per user (active and history) and one execution with its per-task artifacts.
 */
import { HttpApiEndpoint, HttpApiGroup } from "@effect/platform"
import { Schema } from "effect"
import { described, documented, executionIdParam, userIdParam } from "./ApiCommon.js"
import { OperationArtifact, VerificationResult } from "./Artifacts.js"
import { Authentication } from "./Auth.js"
import { BadRequest, ExecutionNotFound } from "./Errors.js"
import { ExecutionConfig } from "./ExecutionConfig.js"
import { ExecutionError } from "./ExecutionError.js"
import { ExecutionStatus } from "./ExecutionStatus.js"
import { CustomerId, ExecutionId, ProjectId, TaskId, Timestamp } from "./Ids.js"

export class ActiveExecution extends Schema.Class<ActiveExecution>("ActiveExecution")({
  executionId: ExecutionId,
  projectId: ProjectId,
  status: ExecutionStatus,
  currentTask: Schema.NullOr(TaskId),
  progress: Schema.Number,
  startTime: Timestamp
}) {}

export class ExecutionErrorSummary extends Schema.Class<ExecutionErrorSummary>("ExecutionErrorSummary")({
  errorId: Schema.String,
  message: Schema.String,
  step: Schema.String
}) {}

export class ExecutionHistoryEntry extends Schema.Class<ExecutionHistoryEntry>("ExecutionHistoryEntry")({
  executionId: ExecutionId,
  projectId: ProjectId,
  status: ExecutionStatus,
  startTime: Timestamp,
  endTime: Schema.NullOr(Timestamp),
  completedTasks: Schema.Int,
  error: Schema.optional(ExecutionErrorSummary)
}) {}

export class HistoryParams extends Schema.Class<HistoryParams>("HistoryParams")({
  limit: Schema.optional(
    Schema.NumberFromString.pipe(Schema.int(), Schema.greaterThanOrEqualTo(1), Schema.lessThanOrEqualTo(200))
  )
}) {}

/** One task's work within an execution. */
export class ExecutionTaskRecord extends Schema.Class<ExecutionTaskRecord>("ExecutionTaskRecord")({
  taskId: TaskId,
  title: Schema.NullOr(Schema.String),
  branch: Schema.NullOr(Schema.String),
  status: Schema.Literal("in_progress", "completed", "failed"),
  artifacts: Schema.Array(OperationArtifact),
  verification: Schema.NullOr(VerificationResult),
  mergeCommit: Schema.NullOr(Schema.String),
  pushedCommit: Schema.NullOr(Schema.String)
}) {}

export class ExecutionDetails extends Schema.Class<ExecutionDetails>("ExecutionDetails")({
  executionId: ExecutionId,
  projectId: ProjectId,
  customerId: CustomerId,
  userId: Schema.NullOr(Schema.String),
  status: ExecutionStatus,
  config: ExecutionConfig,
  startTime: Timestamp,
  endTime: Schema.NullOr(Timestamp),
  completedTasks: Schema.Int,
  totalTasks: Schema.Int,
  progress: Schema.Number,
  tasks: Schema.Array(ExecutionTaskRecord),
  errors: Schema.Array(ExecutionError)
}) {}

export class ExecutionsApi extends HttpApiGroup.make("executions")
  .annotateContext(described("Executions per user (active and history) and one execution with its per-task artifacts."))
  .add(
    HttpApiEndpoint.get("active")`/active/${userIdParam}`
      .annotateContext(
        documented(
          "A user's active executions",
          "Executions of the user that have not ended (queued, running or paused), with their progress."
        )
      )
      .addSuccess(Schema.Array(ActiveExecution))
  )
  .add(
    HttpApiEndpoint.get("history")`/history/${userIdParam}`
      .annotateContext(
        documented(
          "A user's executions, newest first",
          "Ended and running executions of the user with their outcome and error summary; `limit` (default 20, max 200)."
        )
      )
      .setUrlParams(HistoryParams)
      .addSuccess(Schema.Array(ExecutionHistoryEntry))
  )
  .add(
    HttpApiEndpoint.get("get")`/${executionIdParam}`
      .annotateContext(
        documented(
          "One execution with its per-task artifacts",
          "Configuration, times, progress, each task's branch, operation artifacts, verification result and merge/push commits, and every error record of the execution."
        )
      )
      .addSuccess(ExecutionDetails)
      .addError(ExecutionNotFound)
  )
  .addError(BadRequest)
  .middleware(Authentication)
  .prefix("/api/devteam/executions")
{}
