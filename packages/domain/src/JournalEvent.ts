/**
 * The journal: one event per transition of pipeline.md. The journal is the source of truth of a
 * project; its state (`ProjectState`), the status projection, the seed's `task_context` and the
 * WebSocket frames are all derived from it.
 *
 * Every member carries `v` (its schema version) so that old journals still fold after the code
 * evolves: a new version is a new member with `v: 2` plus an upgrade in `evolve`, never an edit
 * of an existing one. Every member carries `at`, the time the decider accepted it.
 */
import { Schema } from "effect"
import { OperationArtifact, VerificationResult } from "./Artifacts.js"
import { ExecutionConfig } from "./ExecutionConfig.js"
import { ExecutionError } from "./ExecutionError.js"
import { ExecutionStatus, Step } from "./ExecutionStatus.js"
import { EventId, ExecutionId, TaskId, Timestamp } from "./Ids.js"
import { InjectedTask, TaskPatch } from "./Injection.js"
import { Task } from "./Task.js"

const V1 = { v: Schema.Literal(1), at: Timestamp }

/** `initialize` / `POST /events` accepted: a new execution, waiting for a slot (QUEUED). */
export class ExecutionInitialized extends Schema.TaggedClass<ExecutionInitialized>()("ExecutionInitialized", {
  ...V1,
  executionId: ExecutionId,
  eventId: EventId,
  config: ExecutionConfig
}) {}

/** A step began (or began again after a crash or a resume: `attempt` > 1). */
export class StepStarted extends Schema.TaggedClass<StepStarted>()("StepStarted", {
  ...V1,
  step: Step,
  taskId: Schema.NullOr(TaskId),
  attempt: Schema.Int.pipe(Schema.positive())
}) {}

/** SELECT picked the next task. */
export class TaskSelected extends Schema.TaggedClass<TaskSelected>()("TaskSelected", {
  ...V1,
  task: Task,
  totalTasks: Schema.Int.pipe(Schema.nonNegative()),
  completedTasks: Schema.Int.pipe(Schema.nonNegative())
}) {}

export class PrepCompleted extends Schema.TaggedClass<PrepCompleted>()("PrepCompleted", {
  ...V1,
  taskId: TaskId,
  branch: Schema.String,
  repoPath: Schema.String,
  cloned: Schema.Boolean,
  branchCreated: Schema.Boolean
}) {}

export class ImplementCompleted extends Schema.TaggedClass<ImplementCompleted>()("ImplementCompleted", {
  ...V1,
  taskId: TaskId,
  artifact: OperationArtifact,
  /** The commit on the task branch holding the change. */
  commit: Schema.NullOr(Schema.String)
}) {}

/**
 * VERIFY reached a verdict. `result.success: false` is the fix loop: IMPLEMENT runs again with the
 * failure (bounded by VERIFY_RETRIES; past it, VERIFY fails with `StepFailed` instead).
 */
export class VerifyCompleted extends Schema.TaggedClass<VerifyCompleted>()("VerifyCompleted", {
  ...V1,
  taskId: TaskId,
  result: VerificationResult
}) {}

export class MergeCompleted extends Schema.TaggedClass<MergeCompleted>()("MergeCompleted", {
  ...V1,
  taskId: TaskId,
  mergeCommit: Schema.String,
  alreadyMerged: Schema.Boolean
}) {}

export class PushCompleted extends Schema.TaggedClass<PushCompleted>()("PushCompleted", {
  ...V1,
  taskId: TaskId,
  commit: Schema.String,
  alreadyPushed: Schema.Boolean
}) {}

/** UPDATE_TASKLIST ticked the task in the file and pushed it: the task is completed. */
export class TaskListUpdated extends Schema.TaggedClass<TaskListUpdated>()("TaskListUpdated", {
  ...V1,
  taskId: TaskId,
  /** null when nothing was committed: the task was already ticked, or could not be written (see the step log). */
  commit: Schema.NullOr(Schema.String),
  completedTasks: Schema.Int.pipe(Schema.nonNegative()),
  totalTasks: Schema.Int.pipe(Schema.nonNegative()),
  /**
   * The journaled task edits (`PUT /repository/tasks/...`), field by field, that the file reads as the
   * journal has them after this step: they need not be written again (absent in older events).
   */
  editsInFile: Schema.optional(Schema.Array(Schema.Tuple(TaskId, TaskPatch)))
}) {}

/** A step failed after its retries: the execution is FAILED (stop-on-error). */
export class StepFailed extends Schema.TaggedClass<StepFailed>()("StepFailed", {
  ...V1,
  error: ExecutionError
}) {}

/**
 * The execution came to rest FAILED (always right after the `StepFailed` of the same decision): the
 * terminal `execution-completed` frame of a failure. A resume reopens the execution.
 */
export class ExecutionFailed extends Schema.TaggedClass<ExecutionFailed>()("ExecutionFailed", {
  ...V1,
  errorId: Schema.String
}) {}

/** pause while a step runs: takes effect at the next step boundary. */
export class PauseRequested extends Schema.TaggedClass<PauseRequested>()("PauseRequested", { ...V1 }) {}

export class ExecutionPaused extends Schema.TaggedClass<ExecutionPaused>()("ExecutionPaused", { ...V1 }) {}

/** From PAUSED or FAILED (the failed step runs again), or cancelling a pending pause. */
export class ExecutionResumed extends Schema.TaggedClass<ExecutionResumed>()("ExecutionResumed", {
  ...V1,
  from: ExecutionStatus
}) {}

export class ExecutionStopped extends Schema.TaggedClass<ExecutionStopped>()("ExecutionStopped", {
  ...V1,
  reason: Schema.String
}) {}

export const CompletionReason = Schema.Literal("finished", "stop-point")
export type CompletionReason = typeof CompletionReason.Type

export class ExecutionCompleted extends Schema.TaggedClass<ExecutionCompleted>()("ExecutionCompleted", {
  ...V1,
  reason: CompletionReason,
  /** The task list's figures as SELECT last saw them (absent in events written before they were added). */
  totalTasks: Schema.optional(Schema.Int.pipe(Schema.nonNegative())),
  completedTasks: Schema.optional(Schema.Int.pipe(Schema.nonNegative()))
}) {}

export class TaskInjected extends Schema.TaggedClass<TaskInjected>()("TaskInjected", {
  ...V1,
  injection: InjectedTask,
  /** Index of the task in the plan order at the time of injection. */
  position: Schema.Int.pipe(Schema.nonNegative())
}) {}

export class TaskUpdated extends Schema.TaggedClass<TaskUpdated>()("TaskUpdated", {
  ...V1,
  taskId: TaskId,
  patch: TaskPatch
}) {}

export const LogLevel = Schema.Literal("debug", "info", "warn", "error")
export type LogLevel = typeof LogLevel.Type

export class LogLine extends Schema.Class<LogLine>("LogLine")({
  level: LogLevel,
  /** Redacted. */
  message: Schema.String,
  at: Timestamp
}) {}

/** One flush of execution-log lines (at most every ~100 ms while output flows). Projections skip it. */
export class LogBatch extends Schema.TaggedClass<LogBatch>()("LogBatch", {
  ...V1,
  taskId: Schema.NullOr(TaskId),
  step: Schema.NullOr(Step),
  lines: Schema.NonEmptyArray(LogLine)
}) {}

export const SingleStep = Schema.Literal("PREP", "IMPLEMENT", "VERIFY")
export type SingleStep = typeof SingleStep.Type

/** `/prep`, `/implement` or `/verify` ran outside an execution. */
export class SingleStepCompleted extends Schema.TaggedClass<SingleStepCompleted>()("SingleStepCompleted", {
  ...V1,
  step: SingleStep,
  taskId: TaskId,
  success: Schema.Boolean,
  branch: Schema.NullOr(Schema.String),
  artifact: Schema.NullOr(OperationArtifact),
  verification: Schema.NullOr(VerificationResult)
}) {}

/**
 * A project's settings were registered or changed (`PUT /api/devteam/projects/{projectId}`, or the
 * first `POST /prep` naming a repository). `by` is who did it (the token's `sub`, `local` without
 * authentication). The next execution starts from these settings.
 */
export class ProjectConfigured extends Schema.TaggedClass<ProjectConfigured>()("ProjectConfigured", {
  ...V1,
  config: ExecutionConfig,
  by: Schema.String
}) {}

/** `DELETE /api/devteam/projects/{projectId}`: the project is forgotten (its journal stays). */
export class ProjectDeleted extends Schema.TaggedClass<ProjectDeleted>()("ProjectDeleted", {
  ...V1,
  by: Schema.String
}) {}

export const JournalEvent = Schema.Union(
  ExecutionInitialized,
  StepStarted,
  TaskSelected,
  PrepCompleted,
  ImplementCompleted,
  VerifyCompleted,
  MergeCompleted,
  PushCompleted,
  TaskListUpdated,
  StepFailed,
  ExecutionFailed,
  PauseRequested,
  ExecutionPaused,
  ExecutionResumed,
  ExecutionStopped,
  ExecutionCompleted,
  TaskInjected,
  TaskUpdated,
  LogBatch,
  SingleStepCompleted,
  ProjectConfigured,
  ProjectDeleted
)
export type JournalEvent = typeof JournalEvent.Type

export type JournalEventTag = JournalEvent["_tag"]

/** The result of a successful step, as recorded by `CompleteStep`. */
export type StepOutcome =
  | TaskSelected
  | PrepCompleted
  | ImplementCompleted
  | VerifyCompleted
  | MergeCompleted
  | PushCompleted
  | TaskListUpdated

export const stepOfOutcome = (outcome: StepOutcome): Step => {
  switch (outcome._tag) {
    case "TaskSelected":
      return "SELECT"
    case "PrepCompleted":
      return "PREP"
    case "ImplementCompleted":
      return "IMPLEMENT"
    case "VerifyCompleted":
      return "VERIFY"
    case "MergeCompleted":
      return "MERGE"
    case "PushCompleted":
      return "PUSH"
    case "TaskListUpdated":
      return "UPDATE_TASKLIST"
  }
}

/** A journal row: the event plus where and when it was committed. */
export class JournalEntry extends Schema.Class<JournalEntry>("JournalEntry")({
  seq: Schema.Int.pipe(Schema.positive()),
  executionId: Schema.NullOr(ExecutionId),
  correlationId: Schema.String,
  ts: Timestamp,
  /** Who caused it: the caller's token `sub` (`local` without authentication); absent for the runner's own work. */
  principal: Schema.optional(Schema.String),
  event: JournalEvent
}) {}
