/**
 * The core runner API: one step for one project, run through the project's entity so that it is
 * serialised with automation (a step while an execution is active → 409).
 */
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"
import { described, documented, IdempotencyKey, idempotent, requestBody } from "./ApiCommon.js"
import { CriterionResult, OperationOutputs } from "./Artifacts.js"
import { Authentication } from "./Auth.js"
import {
  BadRequest,
  BranchNotFound,
  GitOperationFailed,
  IllegalTransition,
  InvalidRepoUrl,
  ProjectNotFound,
  RepositoryAccessDenied,
  SandboxUnavailable,
  TaskListNotFound,
  ToolFailed
} from "./Errors.js"
import { BranchName, ToolName } from "./ExecutionConfig.js"
import { ProjectId, TaskId } from "./Ids.js"
import { ListCommit } from "./RepositoryApi.js"
import { Task, TaskCriteria } from "./Task.js"

const RepoUrl = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(2048))
const Title = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(500))

export class PrepRequest extends Schema.Class<PrepRequest>("PrepRequest")({
  /** Defaults to a project derived from the repository URL. */
  projectId: Schema.optional(ProjectId),
  repoUrl: RepoUrl,
  taskId: TaskId,
  /** Defaults to the task's title in the task list. */
  title: Schema.optional(Title),
  baseBranch: Schema.optional(BranchName),
  idempotencyKey: Schema.optional(IdempotencyKey)
}) {}

export class PrepArtifacts extends Schema.Class<PrepArtifacts>("PrepArtifacts")({
  cloned: Schema.Boolean,
  branchCreated: Schema.Boolean,
  workingDirectory: Schema.String
}) {}

export class PrepResponse extends Schema.Class<PrepResponse>("PrepResponse")({
  success: Schema.Boolean,
  projectId: ProjectId,
  taskId: TaskId,
  branch: Schema.String,
  repoPath: Schema.String,
  idempotencyKey: Schema.NullOr(Schema.String),
  artifacts: PrepArtifacts
}) {}

export class ImplementCriteria extends Schema.Class<ImplementCriteria>("ImplementCriteria")({
  description: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(20_000)),
  files: Schema.optional(
    Schema.Array(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(500))).pipe(
      Schema.maxItems(200)
    )
  ),
  requirements: Schema.optional(Schema.Array(Schema.String.pipe(Schema.maxLength(2_000))).pipe(Schema.maxItems(100)))
}) {}

export class ImplementRequest extends Schema.Class<ImplementRequest>("ImplementRequest")({
  projectId: ProjectId,
  taskId: TaskId,
  branch: BranchName,
  tool: Schema.optional(ToolName),
  criteria: ImplementCriteria,
  idempotencyKey: Schema.optional(IdempotencyKey)
}) {}

export class ImplementResponse extends Schema.Class<ImplementResponse>("ImplementResponse")({
  success: Schema.Boolean,
  taskId: TaskId,
  tool: Schema.String,
  artifacts: OperationOutputs,
  /** Seconds. */
  duration: Schema.Number,
  commit: Schema.NullOr(Schema.String)
}) {}

export class VerifyRequest extends Schema.Class<VerifyRequest>("VerifyRequest")({
  projectId: ProjectId,
  taskId: TaskId,
  branch: BranchName,
  criteria: Schema.optional(TaskCriteria),
  idempotencyKey: Schema.optional(IdempotencyKey)
}) {}

const verifyFields = {
  success: Schema.Boolean,
  taskId: TaskId,
  results: Schema.Record({ key: Schema.String, value: CriterionResult }),
  artifacts: Schema.Struct({
    buildOutput: Schema.String,
    testOutput: Schema.optional(Schema.String),
    coverageReport: Schema.optional(Schema.String),
    typeCheckOutput: Schema.optional(Schema.String)
  })
}

export class VerifyResponse extends Schema.Class<VerifyResponse>("VerifyResponse")(verifyFields) {}

/** The same body with `success: false`, sent with 422 when a criterion is not met. */
export class VerifyFailedResponse extends Schema.Class<VerifyFailedResponse>("VerifyFailedResponse")(
  verifyFields,
  HttpApiSchema.annotations({ status: 422 })
) {}

const BooleanFromString = Schema.transform(Schema.Literal("true", "false", "1", "0"), Schema.Boolean, {
  strict: true,
  decode: (s) => s === "true" || s === "1",
  encode: (b) => (b ? "true" : "false")
})

export class NextTaskParams extends Schema.Class<NextTaskParams>("NextTaskParams")({
  projectId: Schema.optional(ProjectId),
  customerId: Schema.optional(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200))),
  excludeCompleted: Schema.optional(BooleanFromString),
  /** Read the task list from the remote now instead of the cache. */
  refresh: Schema.optional(BooleanFromString)
}) {}

export class NextTaskResponse extends Schema.Class<NextTaskResponse>("NextTaskResponse")({
  task: Schema.NullOr(Task),
  dependenciesSatisfied: Schema.Boolean,
  totalTasks: Schema.Int,
  completedTasks: Schema.Int,
  progress: Schema.Number,
  commit: ListCommit
}) {}

export class RunnerApi extends HttpApiGroup.make("runner")
  .annotateContext(
    described(
      "Single pipeline steps for one task (PREP, IMPLEMENT, VERIFY) and the next task, serialised with automation."
    )
  )
  .add(
    HttpApiEndpoint.post("prep", "/prep")
      .annotateContext(
        documented(
          "Run PREP for one task: clone or fetch, create the task branch",
          "A single step through the project's actor (serialised with automation: 409 while an execution is running). Clones or fetches the repository and creates `task/<id>-<title>` from the base branch; registers the project when it is new. Re-running returns the same result."
        )
      )
      .setPayload(requestBody(PrepRequest))
      .pipe(idempotent)
      .addSuccess(PrepResponse)
      .addError(InvalidRepoUrl)
      .addError(RepositoryAccessDenied)
      .addError(IllegalTransition)
      .addError(GitOperationFailed)
  )
  .add(
    HttpApiEndpoint.post("implement", "/implement")
      .annotateContext(
        documented(
          "Run IMPLEMENT for one task: the coding agent on the task branch",
          "Runs the chosen coding agent (aider, claude-code or a script) in the project's sandbox on the task branch and commits its change there. 404 when the branch does not exist (run /prep first); 500 ToolFailed when the agent fails."
        )
      )
      .setPayload(requestBody(ImplementRequest))
      .pipe(idempotent)
      .addSuccess(ImplementResponse)
      .addError(ProjectNotFound)
      .addError(BranchNotFound)
      .addError(IllegalTransition)
      .addError(ToolFailed)
      .addError(SandboxUnavailable)
      .addError(GitOperationFailed)
  )
  .add(
    HttpApiEndpoint.post("verify", "/verify")
      .annotateContext(
        documented(
          "Run VERIFY for one task: build, tests and criteria on the task branch",
          "Runs the project's verify commands (by default: install, then the package's `build` and `test` scripts and a typecheck, each when present) and judges the task's criteria (coverage, type errors…) in the sandbox. 200 when everything passes; 422 with the same body and `success: false` naming the failing command and its exit code otherwise."
        )
      )
      .setPayload(requestBody(VerifyRequest))
      .pipe(idempotent)
      .addSuccess(VerifyResponse)
      .addError(VerifyFailedResponse)
      .addError(ProjectNotFound)
      .addError(BranchNotFound)
      .addError(IllegalTransition)
      .addError(SandboxUnavailable)
  )
  .add(
    HttpApiEndpoint.get("nextTask", "/tasks/next")
      .annotateContext(
        documented(
          "The task SELECT would run next",
          "Reads the task list on the project's base branch and returns the next runnable task (dependencies met, not completed), or null, with the list's progress. `projectId`, or `customerId` when the customer has one project."
        )
      )
      .setUrlParams(NextTaskParams)
      .addSuccess(NextTaskResponse)
      .addError(ProjectNotFound)
      .addError(TaskListNotFound)
      .addError(GitOperationFailed)
  )
  .addError(BadRequest)
  .middleware(Authentication)
{}
