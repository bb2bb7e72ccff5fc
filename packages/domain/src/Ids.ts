/**
 * Branded identifiers. Every id that crosses a boundary is decoded with one of these schemas,
 * so a value of type `ProjectId` has already passed the validation rules of the API contract.
 */
import { Schema } from "effect"

/** `customer-123/project-abc`: 1–200 chars of `[A-Za-z0-9._/-]`, no `..`, no leading `/`. */
export const ProjectId = Schema.String.pipe(
  Schema.minLength(1, { message: () => "projectId must not be empty" }),
  Schema.maxLength(200, { message: () => "projectId must be at most 200 characters" }),
  Schema.pattern(/^[A-Za-z0-9._/-]+$/, {
    message: () => "projectId may only contain letters, digits, '.', '_', '/' and '-'"
  }),
  Schema.filter((s) => !s.includes("..") || "projectId must not contain '..'"),
  Schema.filter((s) => !s.startsWith("/") || "projectId must not start with '/'"),
  Schema.brand("ProjectId"),
  Schema.annotations({ identifier: "ProjectId", description: "Opaque project id such as customer-123/project-abc" })
)
export type ProjectId = typeof ProjectId.Type

/** Defaults to the part of the project id before the first `/`. */
export const CustomerId = Schema.String.pipe(
  Schema.minLength(1),
  Schema.maxLength(200),
  Schema.pattern(/^[A-Za-z0-9._-]+$/, {
    message: () => "customerId may only contain letters, digits, '.', '_' and '-'"
  }),
  Schema.brand("CustomerId"),
  Schema.annotations({ identifier: "CustomerId" })
)
export type CustomerId = typeof CustomerId.Type

/** The customer a project belongs to when none is given: the part before the first `/`. */
export const customerIdOf = (projectId: ProjectId): CustomerId => {
  const head = projectId.split("/")[0] ?? projectId
  return CustomerId.make(head.length > 0 ? head : projectId.replaceAll("/", "-"))
}

/** Dotted numbers (`1.1.1`) from the task list, or ids such as `E1` for injected tasks. */
export const TaskId = Schema.String.pipe(
  Schema.minLength(1, { message: () => "taskId must not be empty" }),
  Schema.maxLength(64, { message: () => "taskId must be at most 64 characters" }),
  Schema.pattern(/^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/, {
    message: () => "taskId must look like 1.2.3 or E1 (letters and digits separated by '.', '_' or '-')"
  }),
  Schema.brand("TaskId"),
  Schema.annotations({ identifier: "TaskId" })
)
export type TaskId = typeof TaskId.Type

const Uuid = Schema.String.pipe(
  Schema.pattern(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, {
    message: () => "must be a UUID"
  })
)

export const ExecutionId = Uuid.pipe(Schema.brand("ExecutionId"), Schema.annotations({ identifier: "ExecutionId" }))
export type ExecutionId = typeof ExecutionId.Type

export const EventId = Uuid.pipe(Schema.brand("EventId"), Schema.annotations({ identifier: "EventId" }))
export type EventId = typeof EventId.Type

export const ErrorId = Uuid.pipe(Schema.brand("ErrorId"), Schema.annotations({ identifier: "ErrorId" }))
export type ErrorId = typeof ErrorId.Type

/** The JWT `sub` of a caller, or the `userId` field of a request. */
export const UserId = Schema.String.pipe(
  Schema.minLength(1),
  Schema.maxLength(200),
  Schema.filter((s) =>
    ![...s].some((c) => c < " " || c === "\u007f" || c === "/") || "userId must not contain control characters or '/'"
  ),
  Schema.brand("UserId"),
  Schema.annotations({ identifier: "UserId" })
)
export type UserId = typeof UserId.Type

/** `x-correlation-id`: echoed from the request when valid, generated otherwise. */
export const CorrelationId = Schema.String.pipe(
  Schema.minLength(1),
  Schema.maxLength(128),
  Schema.pattern(/^[A-Za-z0-9._:-]+$/, { message: () => "must be letters, digits, '.', '_', ':' or '-'" }),
  Schema.brand("CorrelationId"),
  Schema.annotations({ identifier: "CorrelationId" })
)
export type CorrelationId = typeof CorrelationId.Type

/** The journal sequence of a project: 1, 2, 3, … with no gaps. */
export const Seq = Schema.Int.pipe(Schema.nonNegative(), Schema.brand("Seq"), Schema.annotations({ identifier: "Seq" }))
export type Seq = typeof Seq.Type

/** ISO-8601 UTC timestamp string, as every timestamp in the API. */
export const Timestamp = Schema.String.pipe(
  Schema.pattern(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z$/, {
    message: () => "must be an ISO-8601 UTC timestamp such as 2025-01-14T18:25:00.000Z"
  }),
  Schema.annotations({ identifier: "Timestamp" })
)
export type Timestamp = typeof Timestamp.Type
