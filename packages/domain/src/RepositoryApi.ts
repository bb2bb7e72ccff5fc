/**
 * The repository and its task list: validation (never writes), the parsed list, the plan (a dry
 * run of SELECT), and task edits.
 */
import { HttpApiEndpoint, HttpApiGroup } from "@effect/platform"
import { Schema } from "effect"
import { IdempotencyHeaders, projectIdParam, requestBody, taskIdParam } from "./ApiCommon.js"
import { Authentication } from "./Auth.js"
import {
  BadRequest,
  BranchNotFound,
  GitOperationFailed,
  IllegalTransition,
  InvalidRepoUrl,
  ProjectNotFound,
  RepositoryAccessDenied,
  TaskListNotFound,
  TaskNotFound
} from "./Errors.js"
import { BranchName, RepoPath } from "./ExecutionConfig.js"
import { TaskId } from "./Ids.js"
import { TaskPatch } from "./Injection.js"
import { Task } from "./Task.js"

export class DiagnosticView extends Schema.Class<DiagnosticView>("DiagnosticView")({
  line: Schema.Int,
  message: Schema.String
}) {}

export class ValidateRequest extends Schema.Class<ValidateRequest>("ValidateRequest")({
  repoUrl: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(2048)),
  baseBranch: Schema.optional(BranchName),
  taskListPath: Schema.optional(RepoPath)
}) {}

export class ValidateResponse extends Schema.Class<ValidateResponse>("ValidateResponse")({
  valid: Schema.Boolean,
  reachable: Schema.Boolean,
  /** Why the repository is not valid (unreachable and git's reason, a missing branch), redacted. */
  message: Schema.optional(Schema.String),
  defaultBranch: Schema.NullOr(Schema.String),
  taskList: Schema.Struct({
    found: Schema.Boolean,
    path: Schema.String,
    totalTasks: Schema.Int,
    completedTasks: Schema.Int,
    errors: Schema.Array(DiagnosticView)
  })
}) {}

/** The base-branch commit a task-list answer reflects (reads are served from a cache, refreshed every TASKLIST_REFRESH). */
export const ListCommit = Schema.optional(
  Schema.String.annotations({ description: "the base-branch commit the task list was read at" })
)

/** `?refresh=true`: read the task list from the remote now instead of the cache. */
export class TaskListReadParams extends Schema.Class<TaskListReadParams>("TaskListReadParams")({
  refresh: Schema.optional(
    Schema.transform(Schema.Literal("true", "false", "1", "0"), Schema.Boolean, {
      strict: true,
      decode: (s) => s === "true" || s === "1",
      encode: (b) => (b ? "true" : "false")
    })
  )
}) {}

/** The most tasks one page of `GET tasks` holds. */
export const maxTasksPageSize = 1000

/**
 * `GET tasks`: `?limit=&offset=` pages the list (in list order); without `limit` every task is
 * returned (the list itself is capped at TASKLIST_MAX_TASKS).
 */
export class TasksReadParams extends TaskListReadParams.extend<TasksReadParams>("TasksReadParams")({
  limit: Schema.optional(
    Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, maxTasksPageSize)).annotations({
      description: `the most tasks to return (1–${maxTasksPageSize}); default: all`
    })
  ),
  offset: Schema.optional(
    Schema.NumberFromString.pipe(Schema.int(), Schema.nonNegative()).annotations({
      description: "how many tasks (in list order) to skip; default 0"
    })
  )
}) {}

export class TasksResponse extends Schema.Class<TasksResponse>("TasksResponse")({
  /** The page asked for (every task without `limit`). */
  tasks: Schema.Array(Task),
  /** Figures of the whole list, not of the page. */
  totalTasks: Schema.Int,
  completedTasks: Schema.Int,
  progress: Schema.Number,
  commit: ListCommit,
  /** The `offset` of the next page; absent on the last one. */
  nextOffset: Schema.optional(Schema.Int)
}) {}

export class BlockedTask extends Schema.Class<BlockedTask>("BlockedTask")({
  taskId: TaskId,
  waitingOn: Schema.Array(TaskId)
}) {}

export class PlanResponse extends Schema.Class<PlanResponse>("PlanResponse")({
  order: Schema.Array(TaskId),
  blocked: Schema.Array(BlockedTask),
  diagnostics: Schema.Array(DiagnosticView),
  commit: ListCommit
}) {}

export class RepositoryApi extends HttpApiGroup.make("repository")
  .add(
    HttpApiEndpoint.post("validate", "/validate")
      .setPayload(requestBody(ValidateRequest))
      .addSuccess(ValidateResponse)
      .addError(InvalidRepoUrl)
      .addError(RepositoryAccessDenied)
      .addError(GitOperationFailed)
  )
  .add(
    HttpApiEndpoint.get("tasks")`/tasks/${projectIdParam}`
      .setUrlParams(TasksReadParams)
      .addSuccess(TasksResponse)
      .addError(ProjectNotFound)
      .addError(TaskListNotFound)
      .addError(BranchNotFound)
      .addError(GitOperationFailed)
  )
  .add(
    HttpApiEndpoint.get("plan")`/plan/${projectIdParam}`
      .setUrlParams(TaskListReadParams)
      .addSuccess(PlanResponse)
      .addError(ProjectNotFound)
      .addError(TaskListNotFound)
      .addError(BranchNotFound)
      .addError(GitOperationFailed)
  )
  .add(
    HttpApiEndpoint.put("updateTask")`/tasks/${projectIdParam}/${taskIdParam}`
      .setPayload(requestBody(TaskPatch))
      .setHeaders(IdempotencyHeaders)
      .addSuccess(Task)
      .addError(ProjectNotFound)
      .addError(TaskNotFound)
      .addError(TaskListNotFound)
      .addError(GitOperationFailed)
      .addError(IllegalTransition)
  )
  .addError(BadRequest)
  .middleware(Authentication)
  .prefix("/api/devteam/repository")
{}
