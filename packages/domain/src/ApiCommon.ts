/**
 * Pieces shared by the API groups: path parameters and the Idempotency-Key header.
 */
import { HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"
import { ExecutionId, ProjectId, TaskId } from "./Ids.js"

/** `Idempotency-Key`: any printable token up to 200 chars (UUIDs recommended). */
export const IdempotencyKey = Schema.String.pipe(
  Schema.minLength(1),
  Schema.maxLength(200),
  Schema.pattern(/^[\x21-\x7e]+$/, { message: () => "Idempotency-Key must be printable ASCII without spaces" }),
  Schema.annotations({ identifier: "IdempotencyKey" })
)

/** Headers of every state-changing route. */
export const IdempotencyHeaders = Schema.Struct({
  "idempotency-key": Schema.optional(IdempotencyKey)
})

export const projectIdParam = HttpApiSchema.param("projectId", ProjectId)
export const taskIdParam = HttpApiSchema.param("taskId", TaskId)
export const executionIdParam = HttpApiSchema.param("executionId", ExecutionId)
