/**
 * The `Project` entity protocol (@effect/cluster): one RPC per command, shared by the runner (which
 * implements the handlers) and the gateway (which calls them through the cluster client).
 * The entity id is the projectId. It lives in the runner, not in `@devteam/domain`, so that the
 * contract the SDK depends on needs no @effect/cluster or @effect/rpc.
 *
 * Only `IngestEvent` is persisted (it must be accepted before the entity can run: `POST /events`
 * answers 202 and routes it); every other command is answered after its events are committed to
 * the journal, and HTTP idempotency keys make client retries safe.
 */
import { ControlResponse, InitializeResponse } from "@devteam/domain/AutomationApi"
import {
  BadRequest,
  BranchNotFound,
  GitOperationFailed,
  IllegalTransition,
  InvalidRepoUrl,
  RepositoryAccessDenied,
  SandboxUnavailable,
  TaskListNotFound,
  TaskNotFound,
  ToolFailed
} from "@devteam/domain/Errors"
import { ExecutionConfig } from "@devteam/domain/ExecutionConfig"
import { EventId, ExecutionId, TaskId } from "@devteam/domain/Ids"
import { TaskPatch } from "@devteam/domain/Injection"
import { ProjectState } from "@devteam/domain/ProjectState"
import { PlanResponse, TasksResponse } from "@devteam/domain/RepositoryApi"
import {
  ImplementRequest,
  ImplementResponse,
  NextTaskResponse,
  PrepRequest,
  PrepResponse,
  VerifyFailedResponse,
  VerifyRequest,
  VerifyResponse
} from "@devteam/domain/RunnerApi"
import { Task } from "@devteam/domain/Task"
import { InjectTaskRequest, InjectTaskResponse } from "@devteam/domain/TasksApi"
import { ClusterSchema, Entity } from "@effect/cluster"
import { PersistenceError } from "@effect/cluster/ClusterError"
import { Rpc } from "@effect/rpc"
import { Schema } from "effect"

/**
 * Every command carries the request's correlation id and who sent it (the token's `sub`, `local`
 * without authentication; absent from runners' own commands), which the journal records.
 */
const correlation = { correlationId: Schema.String, principal: Schema.optional(Schema.String) }

const initializeFields = {
  ...correlation,
  executionId: ExecutionId,
  eventId: EventId,
  config: ExecutionConfig
}

/** Errors a task-list read can raise (the list lives in the repository). */
const TaskListErrors = Schema.Union(
  BadRequest,
  InvalidRepoUrl,
  RepositoryAccessDenied,
  GitOperationFailed,
  TaskListNotFound,
  BranchNotFound,
  IllegalTransition
)

export const Initialize = Rpc.make("Initialize", {
  payload: initializeFields,
  success: InitializeResponse,
  error: IllegalTransition
})

/** `POST /events`: persisted, deduplicated by the event id, redelivered after a crash. */
export const IngestEvent = Rpc.make("IngestEvent", {
  payload: initializeFields,
  success: InitializeResponse,
  error: IllegalTransition,
  primaryKey: (payload) => payload.eventId
}).annotate(ClusterSchema.Persisted, true)

/** PersistenceError: the journal could not be written (database down); nothing was decided, the caller retries. */
const controlError = Schema.Union(IllegalTransition, PersistenceError)
export const Pause = Rpc.make("Pause", { payload: correlation, success: ControlResponse, error: controlError })
export const Resume = Rpc.make("Resume", { payload: correlation, success: ControlResponse, error: controlError })
export const Stop = Rpc.make("Stop", { payload: correlation, success: ControlResponse, error: controlError })

export const InjectTask = Rpc.make("InjectTask", {
  payload: { ...correlation, request: InjectTaskRequest },
  success: InjectTaskResponse,
  error: Schema.Union(BadRequest, TaskNotFound, IllegalTransition, TaskListErrors)
})

export const UpdateTask = Rpc.make("UpdateTask", {
  payload: { ...correlation, taskId: TaskId, patch: TaskPatch },
  success: Task,
  error: Schema.Union(TaskNotFound, IllegalTransition, TaskListErrors)
})

export const Prep = Rpc.make("Prep", {
  payload: { ...correlation, request: PrepRequest },
  success: PrepResponse,
  error: Schema.Union(InvalidRepoUrl, RepositoryAccessDenied, IllegalTransition, GitOperationFailed, TaskNotFound)
})

export const Implement = Rpc.make("Implement", {
  payload: { ...correlation, request: ImplementRequest },
  success: ImplementResponse,
  error: Schema.Union(BranchNotFound, IllegalTransition, ToolFailed, SandboxUnavailable, GitOperationFailed)
})

export const Verify = Rpc.make("Verify", {
  payload: { ...correlation, request: VerifyRequest },
  success: VerifyResponse,
  error: Schema.Union(VerifyFailedResponse, BranchNotFound, IllegalTransition, SandboxUnavailable, GitOperationFailed)
})

/** `refresh`: read the task list from the remote now, not from the cache. */
const listRead = { ...correlation, refresh: Schema.optional(Schema.Boolean) }

export const NextTask = Rpc.make("NextTask", {
  payload: { ...listRead, excludeCompleted: Schema.Boolean },
  success: NextTaskResponse,
  error: TaskListErrors
})

/** `limit`/`offset`: one page of the list (every task without `limit`). */
export const GetTasks = Rpc.make("GetTasks", {
  payload: { ...listRead, limit: Schema.optional(Schema.Int), offset: Schema.optional(Schema.Int) },
  success: TasksResponse,
  error: TaskListErrors
})

export const Plan = Rpc.make("Plan", { payload: listRead, success: PlanResponse, error: TaskListErrors })

/** The actor's full state (the fold of its journal). Status reads use the projection instead. */
export const GetState = Rpc.make("GetState", { payload: correlation, success: ProjectState })

/** Registers or changes the project's settings (journaled with the principal). */
export const Configure = Rpc.make("Configure", {
  payload: { ...correlation, config: ExecutionConfig },
  success: ProjectState,
  error: IllegalTransition
})

/** Forgets the project (refused while an execution is active); its work trees are removed. */
export const DeleteProject = Rpc.make("DeleteProject", {
  payload: correlation,
  success: ProjectState,
  error: IllegalTransition
})

/** Sent by runners to projects whose projection shows an active execution, so in-flight work resumes. */
export const Wake = Rpc.make("Wake", { payload: correlation })

export const Project = Entity.make("Project", [
  Initialize,
  IngestEvent,
  Pause,
  Resume,
  Stop,
  InjectTask,
  UpdateTask,
  Prep,
  Implement,
  Verify,
  NextTask,
  GetTasks,
  Plan,
  GetState,
  Wake,
  Configure,
  DeleteProject
  // no client span per command: nothing exports spans (the service runs with the tracer off)
]).annotate(ClusterSchema.ClientTracingEnabled, false)
