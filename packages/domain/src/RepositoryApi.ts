/**
 * The repository and its task list: validation (never writes), the parsed list, the plan (a dry
 * run of SELECT), and task edits.
 */
import { HttpApiEndpoint, HttpApiGroup } from "@effect/platform"
import { Schema } from "effect"
import { described, documented, idempotent, projectIdParam, requestBody, taskIdParam, withBody } from "./ApiCommon.js"
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
  .annotateContext(
    described("A repository's task list: validate a repository, read the parsed list and its plan, change a task.")
  )
  .add(
    HttpApiEndpoint.post("validate", "/validate")
      .annotateContext(
        documented(
          "Check a repository and its task list without changing anything",
          "Whether the repository is reachable (and why not), its default branch, and whether the task list exists and parses (tasks, completed, and each problem with its line). Never writes to the repository."
        )
      )
      .setPayload(requestBody(ValidateRequest))
      .pipe(withBody)
      .addSuccess(ValidateResponse)
      .addError(InvalidRepoUrl)
      .addError(RepositoryAccessDenied)
      .addError(GitOperationFailed)
  )
  .add(
    HttpApiEndpoint.get("tasks")`/tasks/${projectIdParam}`
      .annotateContext(
        documented(
          "The project's task list, parsed",
          "Every task (or a page with `limit`/`offset`) with its status, dependencies and criteria, and the list's progress, as on the base branch (`refresh=true` fetches it again first)."
        )
      )
      .setUrlParams(TasksReadParams)
      .addSuccess(TasksResponse)
      .addError(ProjectNotFound)
      .addError(TaskListNotFound)
      .addError(BranchNotFound)
      .addError(GitOperationFailed)
  )
  .add(
    HttpApiEndpoint.get("plan")`/plan/${projectIdParam}`
      .annotateContext(
        documented(
          "Dry run of SELECT over the whole list",
          "The order the tasks would run in, the tasks that cannot run and what they wait on, and the list's diagnostics (line and message). Writes nothing."
        )
      )
      .setUrlParams(TaskListReadParams)
      .addSuccess(PlanResponse)
      .addError(ProjectNotFound)
      .addError(TaskListNotFound)
      .addError(BranchNotFound)
      .addError(GitOperationFailed)
  )
  .add(
    HttpApiEndpoint.put("updateTask")`/tasks/${projectIdParam}/${taskIdParam}`
      .annotateContext(
        documented(
          "Change a task's status, title or description",
          "Journaled at once: the answer and every task view show the edit from then on. The next UPDATE_TASKLIST commit (the one that ticks the next completed task) also writes it into the task list file — the title on the task's line, the description as the lines under it, the status as its checkbox (`skipped` as `(manual)`, `in_progress` as `[ ]`); an edit the file cannot carry exactly stays in the journal only (see docs/task-list.md, Edits). 409 when the execution's state does not allow the change."
        )
      )
      .setPayload(requestBody(TaskPatch))
      .pipe(idempotent)
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
