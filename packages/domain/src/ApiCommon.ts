/**
 * Pieces shared by the API groups: path parameters and the Idempotency-Key header.
 */
import { HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"
import { ErrorId, EventId, ExecutionId, ProjectId, TaskId, UserId } from "./Ids.js"

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

/**
 * A path parameter whose encoded form is percent-encoded. `HttpApiClient` puts encoded path values
 * into the URL verbatim and project ids contain `/`, so encoding here makes every client derived
 * from this API build correct URLs. On the server the router has already decoded the segment:
 * decoding leaves it as it is and the id's own schema validates it.
 */
const pathParam = <Name extends string, A>(name: Name, schema: Schema.Schema<A, string>) =>
  HttpApiSchema.param(
    name,
    Schema.transform(Schema.String.annotations({ description: `${name}, URL-encoded` }), schema, {
      strict: true,
      decode: (segment) => segment,
      encode: (value) => encodeURIComponent(value)
    })
  )

export const projectIdParam = pathParam("projectId", ProjectId)
export const taskIdParam = pathParam("taskId", TaskId)
export const executionIdParam = pathParam("executionId", ExecutionId)
export const userIdParam = pathParam("userId", UserId)
export const eventIdParam = pathParam("eventId", EventId)
export const errorIdParam = pathParam("errorId", ErrorId)

/**
 * A request body's schema, strict: a field the schema does not know is refused (400 naming it)
 * instead of silently dropped, and every problem of the body is reported at once. Only where a
 * body is decoded from a request: the same schemas inside the journal stay lenient.
 */
export const requestBody = <A, I, R>(schema: Schema.Schema<A, I, R>): Schema.Schema<A, I, R> =>
  schema.annotations({ parseOptions: { onExcessProperty: "error", errors: "all" } })
