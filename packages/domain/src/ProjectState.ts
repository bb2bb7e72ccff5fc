/**
 * The state of one project's actor: the fold of its journal. `ExecutionState` (the API's status
 * body) is a view of it.
 */
import { Schema } from "effect"
import { VerificationResult } from "./Artifacts.js"
import { ExecutionConfig } from "./ExecutionConfig.js"
import { ExecutionError } from "./ExecutionError.js"
import { ExecutionStatus, Step, stepWeight } from "./ExecutionStatus.js"
import { CustomerId, customerIdOf, EventId, ExecutionId, ProjectId, TaskId, Timestamp } from "./Ids.js"
import { InjectedTask, TaskPatch } from "./Injection.js"
import { Task } from "./Task.js"

export const LOG_TAIL = 50

export const StepPhase = Schema.Literal("running", "done", "failed")
export type StepPhase = typeof StepPhase.Type

/** The last step of the current task and where it stands. */
export class StepCursor extends Schema.Class<StepCursor>("StepCursor")({
  step: Step,
  phase: StepPhase,
  attempt: Schema.Int.pipe(Schema.positive()),
  startedAt: Timestamp
}) {}

export class ProjectState extends Schema.Class<ProjectState>("ProjectState")({
  projectId: ProjectId,
  customerId: CustomerId,
  executionId: Schema.NullOr(ExecutionId),
  eventId: Schema.NullOr(EventId),
  config: Schema.NullOr(ExecutionConfig),
  status: ExecutionStatus,
  currentTask: Schema.NullOr(Task),
  branch: Schema.NullOr(Schema.String),
  repoPath: Schema.NullOr(Schema.String),
  totalTasks: Schema.Int,
  completedTasks: Schema.Int,
  /** Tasks completed by the current execution, in order. */
  completedInExecution: Schema.Array(TaskId),
  cursor: Schema.NullOr(StepCursor),
  /** Steps of the current task that are done (for progress). */
  stepsDone: Schema.Array(Step),
  pauseRequested: Schema.Boolean,
  error: Schema.NullOr(ExecutionError),
  startTime: Schema.NullOr(Timestamp),
  endTime: Schema.NullOr(Timestamp),
  lastUpdate: Schema.NullOr(Timestamp),
  injections: Schema.Array(InjectedTask),
  patches: Schema.Array(Schema.Tuple(TaskId, TaskPatch)),
  /**
   * The fix loop: the current task's last failed verification, which sends it back to IMPLEMENT
   * (with the failure in the prompt); null once a verification passes or another task is selected.
   */
  failedVerification: Schema.optionalWith(Schema.NullOr(VerificationResult), { default: () => null }),
  /**
   * The highest progress reported since the execution was initialized: the reported progress never goes
   * backwards (an injected task grows the list, a failed verification sends the task back to IMPLEMENT).
   * Derived by `evolve` from the journal, so a rebuilt state reports the same; 0 in old journals' folds.
   */
  progressFloor: Schema.optionalWith(Schema.Number, { default: () => 0 }),
  /** Human-readable step log, newest last (the last 50). */
  logs: Schema.Array(Schema.String)
}) {}

/** A project no command has touched yet (typed fields: not validated again, every activation builds one). */
export const initial = (projectId: ProjectId, customerId?: CustomerId): ProjectState =>
  new ProjectState({
    projectId,
    customerId: customerId ?? customerIdOf(projectId),
    executionId: null,
    eventId: null,
    config: null,
    status: "IDLE",
    currentTask: null,
    branch: null,
    repoPath: null,
    totalTasks: 0,
    completedTasks: 0,
    completedInExecution: [],
    cursor: null,
    stepsDone: [],
    pauseRequested: false,
    error: null,
    startTime: null,
    endTime: null,
    lastUpdate: null,
    injections: [],
    patches: [],
    progressFloor: 0,
    logs: []
  }, true)

/**
 * The figure as it stands: completed/total plus the weight of the current task's finished steps, in
 * percent with 1 decimal. It can drop (a larger list, a task sent back to IMPLEMENT); `progressOf` cannot.
 */
export const currentProgress = (
  state: Pick<ProjectState, "status" | "totalTasks" | "completedTasks" | "currentTask" | "stepsDone">
): number => {
  if (state.status === "COMPLETED" && state.totalTasks === 0) return 100
  if (state.totalTasks <= 0) return 0
  const current = state.currentTask === null ? 0 : state.stepsDone.reduce((sum, step) => sum + stepWeight[step], 0)
  const value = ((state.completedTasks + Math.min(current, 0.99)) / state.totalTasks) * 100
  return Math.round(Math.min(100, value) * 10) / 10
}

/** The reported progress: never below what this execution reported before (`progressFloor`). */
export const progressOf = (state: ProjectState): number => Math.max(state.progressFloor, currentProgress(state))

export class ExecutionStateError extends Schema.Class<ExecutionStateError>("ExecutionStateError")({
  errorId: Schema.String,
  message: Schema.String,
  step: Step
}) {}

export class ExecutionArtifactsView extends Schema.Class<ExecutionArtifactsView>("ExecutionArtifactsView")({
  repoPath: Schema.NullOr(Schema.String),
  logs: Schema.Array(Schema.String)
}) {}

/** `GET /api/devteam/automation/status/{projectId}`. */
export class ExecutionState extends Schema.Class<ExecutionState>("ExecutionState")({
  projectId: ProjectId,
  customerId: CustomerId,
  executionId: Schema.NullOr(ExecutionId),
  status: ExecutionStatus,
  currentTask: Schema.NullOr(TaskId),
  currentTaskTitle: Schema.NullOr(Schema.String),
  branch: Schema.NullOr(Schema.String),
  progress: Schema.Number,
  completedTasks: Schema.Int,
  totalTasks: Schema.Int,
  startTime: Schema.NullOr(Timestamp),
  lastUpdate: Timestamp,
  step: Schema.NullOr(Step),
  pauseRequested: Schema.Boolean,
  error: Schema.optional(ExecutionStateError),
  artifacts: ExecutionArtifactsView
}) {}

export const toExecutionState = (state: ProjectState, now: Timestamp): ExecutionState =>
  new ExecutionState({
    projectId: state.projectId,
    customerId: state.customerId,
    executionId: state.executionId,
    status: state.status,
    currentTask: state.currentTask?.id ?? null,
    currentTaskTitle: state.currentTask?.title ?? null,
    branch: state.branch,
    progress: progressOf(state),
    completedTasks: state.completedTasks,
    totalTasks: state.totalTasks,
    startTime: state.startTime,
    lastUpdate: state.lastUpdate ?? now,
    step: state.cursor?.step ?? null,
    pauseRequested: state.pauseRequested,
    ...(state.error === null || state.status !== "FAILED" ? {} : {
      error: new ExecutionStateError({
        errorId: state.error.errorId,
        message: state.error.message,
        step: state.error.step
      }, true)
    }),
    artifacts: new ExecutionArtifactsView({ repoPath: state.repoPath, logs: state.logs }, true)
    // Every field comes from an already valid state: skip re-validation (hot path of every append).
  }, true)
