/**
 * Projects as resources: register a repository with its settings before (or without) any
 * automation, read it back, list the caller's projects, forget one. Settings are the initialize
 * fields; `initialize` without a repoUrl starts from them.
 */
import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import { described, idempotent, projectIdParam, requestBody } from "./ApiCommon.js"
import { Authentication } from "./Auth.js"
import {
  BadRequest,
  BranchNotFound,
  GitOperationFailed,
  IllegalTransition,
  InvalidRepoUrl,
  ProjectNotFound,
  PushRejected,
  RepositoryAccessDenied
} from "./Errors.js"
import {
  BranchName,
  CommandLine,
  EgressConfig,
  ModelName,
  OnNoChange,
  RepoPath,
  ResourceConfig,
  ToolName,
  VerifyConfig
} from "./ExecutionConfig.js"
import { CustomerId, ProjectId } from "./Ids.js"
import { ExecutionState } from "./ProjectState.js"
import { DiagnosticView } from "./RepositoryApi.js"

/** `PUT /api/devteam/projects/{projectId}`: the project's settings (defaults as for initialize). */
export class ProjectSettingsRequest extends Schema.Class<ProjectSettingsRequest>("ProjectSettingsRequest")({
  repoUrl: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(2048)),
  baseBranch: Schema.optional(BranchName),
  taskListPath: Schema.optional(RepoPath),
  customerId: Schema.optional(CustomerId),
  tool: Schema.optional(ToolName),
  /** The model the agent uses (its tool's configured default otherwise: AIDER_MODEL, CLAUDE_CODE_MODEL). */
  model: Schema.optional(ModelName),
  /** The command the `script` tool runs. */
  script: Schema.optional(CommandLine),
  /** Verify commands (replacing install → build → test → typecheck) and criteria added to every task's. */
  verify: Schema.optional(VerifyConfig),
  /** A task whose agent changes nothing: `complete` when verification passes (default) or `fail`. */
  onNoChange: Schema.optional(OnNoChange),
  /** Bounded by the operator's SANDBOX_MAX_CPUS / SANDBOX_MAX_MEMORY_MIB (above them: 400). */
  resources: Schema.optional(ResourceConfig),
  /** Hosts the sandbox may reach besides the step's defaults: each on EGRESS_PROJECT_ALLOW (else 400). */
  egress: Schema.optional(EgressConfig),
  /**
   * When the repository has no file at taskListPath on the base branch: commit the documented
   * template there (one commit, pushed). An existing file is never overwritten. Not a setting.
   */
  createTaskList: Schema.optional(Schema.Boolean)
}) {}

/** The task list at the project's taskListPath on its base branch, as parsed (with line-numbered diagnostics). */
export class ProjectTaskList extends Schema.Class<ProjectTaskList>("ProjectTaskList")({
  path: Schema.String,
  found: Schema.Boolean,
  /** This request committed the template (false: the file was there already, or no creation was asked). */
  created: Schema.Boolean,
  /** Why the list could not be read (unreachable repository, missing branch), redacted. */
  message: Schema.optional(Schema.String),
  totalTasks: Schema.Int,
  completedTasks: Schema.Int,
  /** What the lenient parser could not use, by line (1-based). */
  errors: Schema.Array(DiagnosticView)
}) {}

/** The settings as stored (defaults applied). */
export class ProjectSettings extends Schema.Class<ProjectSettings>("ProjectSettings")({
  repoUrl: Schema.String,
  baseBranch: BranchName,
  taskListPath: RepoPath,
  customerId: CustomerId,
  tool: ToolName,
  model: Schema.optional(ModelName),
  script: Schema.optional(CommandLine),
  verify: Schema.optional(VerifyConfig),
  onNoChange: Schema.optional(OnNoChange),
  resources: Schema.optional(ResourceConfig),
  egress: Schema.optional(EgressConfig)
}) {}

export class ProjectView extends Schema.Class<ProjectView>("ProjectView")({
  projectId: ProjectId,
  customerId: CustomerId,
  /** null for a project known only from before settings existed (an execution's config is shown instead). */
  settings: Schema.NullOr(ProjectSettings),
  /** The status projection (`IDLE` before any execution). */
  status: ExecutionState,
  /**
   * The task list as read from the repository now: in the answer to a PUT with `createTaskList`,
   * and to a GET with `?taskList=true` (both a git round trip); absent otherwise.
   */
  taskList: Schema.optional(ProjectTaskList)
}) {}

/** `GET /api/devteam/projects/{projectId}?taskList=true`: also read and parse the task list. */
export class ProjectGetParams extends Schema.Class<ProjectGetParams>("ProjectGetParams")({
  taskList: Schema.optional(
    Schema.transform(Schema.Literal("true", "false", "1", "0"), Schema.Boolean, {
      strict: true,
      decode: (s) => s === "true" || s === "1",
      encode: (b) => (b ? "true" : "false")
    })
  )
}) {}

export class ProjectListParams extends Schema.Class<ProjectListParams>("ProjectListParams")({
  customerId: Schema.optional(CustomerId),
  limit: Schema.optional(
    Schema.NumberFromString.pipe(Schema.int(), Schema.greaterThanOrEqualTo(1), Schema.lessThanOrEqualTo(200))
  ),
  offset: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.greaterThanOrEqualTo(0)))
}) {}

export class ProjectList extends Schema.Class<ProjectList>("ProjectList")({
  projects: Schema.Array(ProjectView),
  /** Projects the caller may see (after the customer filter), across every page. */
  total: Schema.Int,
  limit: Schema.Int,
  offset: Schema.Int
}) {}

export class ProjectDeletedResponse extends Schema.Class<ProjectDeletedResponse>("ProjectDeletedResponse")({
  projectId: ProjectId,
  deleted: Schema.Boolean
}) {}

export class ProjectsApi extends HttpApiGroup.make("projects")
  .annotateContext(described("Register projects with their settings, read, list and forget them."))
  .add(
    HttpApiEndpoint.put("put")`/${projectIdParam}`
      .setPayload(requestBody(ProjectSettingsRequest))
      .pipe(idempotent)
      .addSuccess(ProjectView)
      .addError(ProjectNotFound)
      .addError(InvalidRepoUrl)
      .addError(IllegalTransition)
      .addError(BranchNotFound)
      .addError(RepositoryAccessDenied)
      .addError(PushRejected)
      .addError(GitOperationFailed)
      .annotate(OpenApi.Summary, "Register a project or change its settings")
      .annotate(
        OpenApi.Description,
        "Idempotent. Settings are the initialize fields; `initialize` without a repoUrl uses them. " +
          "Every per-project route answers for the project from now on (status IDLE before any execution). " +
          "Changes are journaled (ProjectConfigured, with who made them). 409 while an execution is active; " +
          "400 for resources above the operator's caps. `createTaskList: true` first commits the task-list " +
          "template at taskListPath on the base branch (one commit, pushed) when no file is there — never over an " +
          "existing one — and the answer's `taskList` says whether it was created and what the parser found there " +
          "(diagnostics by line). An empty repository gets the template as its first commit."
      )
  )
  .add(
    HttpApiEndpoint.get("get")`/${projectIdParam}`
      .setUrlParams(ProjectGetParams)
      .addSuccess(ProjectView)
      .addError(ProjectNotFound)
      .addError(InvalidRepoUrl)
      .addError(GitOperationFailed)
      .annotate(OpenApi.Summary, "A project: its settings and status")
      .annotate(
        OpenApi.Description,
        "404 for a project no call has named with a repository (or one deleted). `?taskList=true` also reads " +
          "the task list from the repository (a git round trip) and reports it with the parser's diagnostics by line."
      )
  )
  .add(
    HttpApiEndpoint.get("list", "/")
      .setUrlParams(ProjectListParams)
      .addSuccess(ProjectList)
      .annotate(OpenApi.Summary, "The caller's projects with their status, paged")
      .annotate(
        OpenApi.Description,
        "Projects the token may access, ordered by projectId; `customerId` filters, `limit` (default 50, max 200) " +
          "and `offset` page."
      )
  )
  .add(
    HttpApiEndpoint.del("delete")`/${projectIdParam}`
      .pipe(idempotent)
      .addSuccess(ProjectDeletedResponse)
      .addError(ProjectNotFound)
      .addError(IllegalTransition)
      .annotate(OpenApi.Summary, "Forget a project")
      .annotate(
        OpenApi.Description,
        "Only with no active execution (else 409). The journal stays (ProjectDeleted is journaled); the " +
          "project's work trees are removed; the project is unknown (404) until registered again."
      )
  )
  .addError(BadRequest)
  .middleware(Authentication)
  .prefix("/api/devteam/projects")
{}
