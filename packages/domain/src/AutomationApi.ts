/**
 * DevTeam automation: start, watch and control a project's execution.
 */
import { HttpApiEndpoint, HttpApiGroup } from "@effect/platform"
import { Schema } from "effect"
import { described, documented, IdempotencyKey, idempotent, projectIdParam, requestBody } from "./ApiCommon.js"
import { Authentication } from "./Auth.js"
import { BadRequest, IllegalTransition, InvalidRepoUrl, ProjectNotFound } from "./Errors.js"
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
import { ExecutionStatus } from "./ExecutionStatus.js"
import { CustomerId, EventId, ExecutionId, ProjectId, TaskId, UserId } from "./Ids.js"
import { ExecutionState } from "./ProjectState.js"

export class InitializeRequest extends Schema.Class<InitializeRequest>("InitializeRequest")({
  projectId: ProjectId,
  /** Optional once the project is registered (its settings' repoUrl); a different one → 409. */
  repoUrl: Schema.optional(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(2048))),
  userId: Schema.optional(UserId),
  customerId: Schema.optional(CustomerId),
  baseBranch: Schema.optional(BranchName),
  taskListPath: Schema.optional(RepoPath),
  tool: Schema.optional(ToolName),
  /** The model the agent uses (its tool's configured default otherwise). */
  model: Schema.optional(ModelName),
  /** The command the `script` tool runs. */
  script: Schema.optional(CommandLine),
  stopPoint: Schema.optional(TaskId),
  verify: Schema.optional(VerifyConfig),
  /** A task whose agent changes nothing: `complete` when verification passes (default) or `fail`. */
  onNoChange: Schema.optional(OnNoChange),
  resources: Schema.optional(ResourceConfig),
  /** Hosts the sandbox may reach besides the step's defaults: each on EGRESS_PROJECT_ALLOW (else 400). */
  egress: Schema.optional(EgressConfig),
  idempotencyKey: Schema.optional(IdempotencyKey)
}) {}

export class InitializeResponse extends Schema.Class<InitializeResponse>("InitializeResponse")({
  executionId: ExecutionId,
  eventId: EventId,
  projectId: ProjectId,
  status: ExecutionStatus
}) {}

/** pause / resume / stop. */
export class ControlResponse extends Schema.Class<ControlResponse>("ControlResponse")({
  projectId: ProjectId,
  executionId: Schema.NullOr(ExecutionId),
  status: ExecutionStatus,
  /** pause while a step runs: the pause takes effect at the next step boundary. */
  pauseRequested: Schema.Boolean
}) {}

export class AutomationApi extends HttpApiGroup.make("automation")
  .annotateContext(
    described(
      "Start, watch and control a project's execution of its task list (initialize, status, pause, resume, stop)."
    )
  )
  .add(
    HttpApiEndpoint.post("initialize", "/initialize")
      .annotateContext(
        documented(
          "Start an execution of the project's task list",
          "Registers the project (or uses its stored settings when repoUrl is omitted; another repoUrl for a registered project is 409) and queues an execution that runs SELECT → PREP → IMPLEMENT → VERIFY → MERGE → PUSH → UPDATE_TASKLIST for each task until the list (or `stopPoint`) is done. 202 with the execution id; 409 while another execution is active."
        )
      )
      .setPayload(requestBody(InitializeRequest))
      .pipe(idempotent)
      .addSuccess(InitializeResponse, { status: 202 })
      .addError(InvalidRepoUrl)
      .addError(IllegalTransition)
  )
  .add(
    HttpApiEndpoint.get("status")`/status/${projectIdParam}`
      .annotateContext(
        documented(
          "A project's execution state",
          "Status, current task and branch, progress, the last error and the last 50 log lines of the project's current (or last) execution; `IDLE` for a registered project that never ran."
        )
      )
      .addSuccess(ExecutionState)
      .addError(ProjectNotFound)
  )
  .add(
    HttpApiEndpoint.post("pause")`/pause/${projectIdParam}`
      .annotateContext(
        documented(
          "Pause the running execution at the next step boundary",
          "The running step finishes first (`pauseRequested: true` until it does). Only from a running status; else 409."
        )
      )
      .pipe(idempotent)
      .addSuccess(ControlResponse)
      .addError(ProjectNotFound)
      .addError(IllegalTransition)
  )
  .add(
    HttpApiEndpoint.post("resume")`/resume/${projectIdParam}`
      .annotateContext(
        documented(
          "Resume a paused or failed execution",
          "From PAUSED, or FAILED (the failed step runs again, with whatever was pushed to the task or base branch since); else 409."
        )
      )
      .pipe(idempotent)
      .addSuccess(ControlResponse)
      .addError(ProjectNotFound)
      .addError(IllegalTransition)
  )
  .add(
    HttpApiEndpoint.post("stop")`/stop/${projectIdParam}`
      .annotateContext(
        documented(
          "Stop the execution, interrupting the running step",
          "Kills the running tool or command, releases the sandbox and ends the execution as STOPPED. From any non-final status; else 409."
        )
      )
      .pipe(idempotent)
      .addSuccess(ControlResponse)
      .addError(ProjectNotFound)
      .addError(IllegalTransition)
  )
  .addError(BadRequest)
  .middleware(Authentication)
  .prefix("/api/devteam/automation")
{}
