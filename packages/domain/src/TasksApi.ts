/**
 * Task injection: add a task to a project at run time, placed by the domain's injection rules.
 */
import { HttpApiEndpoint, HttpApiGroup } from "@effect/platform"
import { Schema } from "effect"
import { described, documented, idempotent, requestBody } from "./ApiCommon.js"
import { Authentication } from "./Auth.js"
import {
  BadRequest,
  BranchNotFound,
  GitOperationFailed,
  IllegalTransition,
  ProjectNotFound,
  TaskListNotFound,
  TaskNotFound
} from "./Errors.js"
import { ProjectId, TaskId } from "./Ids.js"
import { InjectionMode } from "./Injection.js"

export class InjectTaskSpec extends Schema.Class<InjectTaskSpec>("InjectTaskSpec")({
  id: Schema.optional(TaskId),
  title: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(500)),
  description: Schema.String.pipe(Schema.maxLength(20_000)),
  files: Schema.optional(
    Schema.Array(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(500))).pipe(
      Schema.maxItems(200)
    )
  ),
  dependencies: Schema.optional(Schema.Array(TaskId).pipe(Schema.maxItems(200)))
}) {}

export class InjectTaskRequest extends Schema.Class<InjectTaskRequest>("InjectTaskRequest")({
  projectId: ProjectId,
  task: InjectTaskSpec,
  mode: InjectionMode,
  replaceTaskId: Schema.optional(TaskId),
  afterTaskId: Schema.optional(TaskId)
}) {}

export class InjectTaskResponse extends Schema.Class<InjectTaskResponse>("InjectTaskResponse")({
  taskId: TaskId,
  position: Schema.Int
}) {}

export class TasksApi extends HttpApiGroup.make("tasks")
  .annotateContext(described("Inject a task into a project's list while it runs."))
  .add(
    HttpApiEndpoint.post("inject", "/inject")
      .annotateContext(
        documented(
          "Add a task to the project's list",
          "`priority` runs it next, `replace` takes the place of `replaceTaskId`, `positional` goes after `afterTaskId`. Journaled; written into the task list file when the task is merged. Answers the task id and its position."
        )
      )
      .setPayload(requestBody(InjectTaskRequest))
      .pipe(idempotent)
      .addSuccess(InjectTaskResponse)
      .addError(ProjectNotFound)
      .addError(TaskNotFound)
      .addError(TaskListNotFound)
      .addError(BranchNotFound)
      .addError(GitOperationFailed)
      .addError(IllegalTransition)
  )
  .addError(BadRequest)
  .middleware(Authentication)
  .prefix("/api/devteam/tasks")
{}
