/**
 * Errors that cross a boundary (HTTP, entity RPC, journal). Each is a `Schema.TaggedError` carrying
 * its HTTP status, so the gateway, the OpenAPI document and the SDK all agree on it. Every body is
 * `{ _tag, message, ... }` and never holds a stack trace or a secret.
 */
import { HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"
import { ExecutionStatus } from "./ExecutionStatus.js"

/** Malformed JSON, a schema violation (the failing path is in `message`), or an invalid value. */
export class BadRequest extends Schema.TaggedError<BadRequest>()(
  "BadRequest",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 400 })
) {}

/** A repoUrl that is not an allowed git URL (option-looking, `ext::`, credentials, file:// when not allowed…). */
export class InvalidRepoUrl extends Schema.TaggedError<InvalidRepoUrl>()(
  "InvalidRepoUrl",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 400 })
) {}

export class Unauthorized extends Schema.TaggedError<Unauthorized>()(
  "Unauthorized",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 401 })
) {}

export class Forbidden extends Schema.TaggedError<Forbidden>()(
  "Forbidden",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 403 })
) {}

export class ProjectNotFound extends Schema.TaggedError<ProjectNotFound>()(
  "ProjectNotFound",
  { message: Schema.String, projectId: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {}

export class TaskNotFound extends Schema.TaggedError<TaskNotFound>()(
  "TaskNotFound",
  { message: Schema.String, taskId: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {}

/** The repository has no task list at the configured path on the base branch. */
export class TaskListNotFound extends Schema.TaggedError<TaskListNotFound>()(
  "TaskListNotFound",
  { message: Schema.String, path: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {}

export class BranchNotFound extends Schema.TaggedError<BranchNotFound>()(
  "BranchNotFound",
  { message: Schema.String, branch: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {}

export class ExecutionNotFound extends Schema.TaggedError<ExecutionNotFound>()(
  "ExecutionNotFound",
  { message: Schema.String, executionId: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {}

export class ErrorNotFound extends Schema.TaggedError<ErrorNotFound>()(
  "ErrorNotFound",
  { message: Schema.String, errorId: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {}

export class EventNotFound extends Schema.TaggedError<EventNotFound>()(
  "EventNotFound",
  { message: Schema.String, eventId: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {}

/** A command the execution state machine does not accept in the current status. */
export class IllegalTransition extends Schema.TaggedError<IllegalTransition>()(
  "IllegalTransition",
  { message: Schema.String, command: Schema.String, status: ExecutionStatus },
  HttpApiSchema.annotations({ status: 409 })
) {}

/** The remote refused our credentials, or the repository does not exist for us. */
export class RepositoryAccessDenied extends Schema.TaggedError<RepositoryAccessDenied>()(
  "RepositoryAccessDenied",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 409 })
) {}

export class MergeConflict extends Schema.TaggedError<MergeConflict>()(
  "MergeConflict",
  { message: Schema.String, branch: Schema.String, files: Schema.Array(Schema.String) },
  HttpApiSchema.annotations({ status: 409 })
) {}

/** The push was still rejected after one fetch + rebase + retry. */
export class PushRejected extends Schema.TaggedError<PushRejected>()(
  "PushRejected",
  { message: Schema.String, branch: Schema.String },
  HttpApiSchema.annotations({ status: 409 })
) {}

/** Another request with the same Idempotency-Key is still being processed; retry shortly. */
export class IdempotencyKeyInProgress extends Schema.TaggedError<IdempotencyKeyInProgress>()(
  "IdempotencyKeyInProgress",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 409 })
) {}

export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>()(
  "PayloadTooLarge",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 413 })
) {}

/** The same Idempotency-Key was used with a different request body. */
export class IdempotencyKeyMismatch extends Schema.TaggedError<IdempotencyKeyMismatch>()(
  "IdempotencyKeyMismatch",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 422 })
) {}

/** A git or filesystem operation failed for a reason other than the ones above. */
export class GitOperationFailed extends Schema.TaggedError<GitOperationFailed>()(
  "GitOperationFailed",
  { message: Schema.String, operation: Schema.String },
  HttpApiSchema.annotations({ status: 500 })
) {}

/** The coding tool failed (fatal marker in its output, nothing changed, timeout, crash). */
export class ToolFailed extends Schema.TaggedError<ToolFailed>()(
  "ToolFailed",
  { message: Schema.String, tool: Schema.String },
  HttpApiSchema.annotations({ status: 500 })
) {}

/** The sandbox could not be created, started or reached (Docker engine down, image missing…). */
export class SandboxUnavailable extends Schema.TaggedError<SandboxUnavailable>()(
  "SandboxUnavailable",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 503 })
) {}

/** A dependency (database, cluster) cannot serve the request now; retry later. */
export class ServiceUnavailable extends Schema.TaggedError<ServiceUnavailable>()(
  "ServiceUnavailable",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 503 })
) {}

export class InternalError extends Schema.TaggedError<InternalError>()(
  "InternalError",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 500 })
) {}
