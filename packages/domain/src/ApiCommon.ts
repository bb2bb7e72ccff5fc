/**
 * Pieces shared by the API groups: path parameters, the Idempotency-Key header with the errors it
 * brings, strict request bodies and the OpenAPI text of an endpoint.
 */
import { type HttpApiEndpoint, HttpApiSchema, type HttpMethod, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import { IdempotencyKeyInProgress, IdempotencyKeyMismatch, PayloadTooLarge } from "./Errors.js"
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

/**
 * A state-changing route: the `Idempotency-Key` header and what it can answer (409 a request with
 * the key still running, 422 the key reused with another request), and 413 for a body over the limit.
 * Only these routes list those errors in the OpenAPI document.
 */
export const idempotent = <
  Name extends string,
  Method extends HttpMethod.HttpMethod,
  Path,
  UrlParams,
  Payload,
  Success,
  Error,
  R,
  RE
>(
  endpoint: HttpApiEndpoint.HttpApiEndpoint<Name, Method, Path, UrlParams, Payload, never, Success, Error, R, RE>
): HttpApiEndpoint.HttpApiEndpoint<
  Name,
  Method,
  Path,
  UrlParams,
  Payload,
  typeof IdempotencyHeaders.Type,
  Success,
  Error | IdempotencyKeyInProgress | IdempotencyKeyMismatch | PayloadTooLarge,
  R,
  RE
> =>
  endpoint.setHeaders(IdempotencyHeaders).addError(IdempotencyKeyInProgress).addError(IdempotencyKeyMismatch)
    .addError(PayloadTooLarge)

/** A route that reads a body but changes nothing: 413 for a body over the limit. */
export const withBody = <
  Name extends string,
  Method extends HttpMethod.HttpMethod,
  Path,
  UrlParams,
  Payload,
  Headers,
  Success,
  Error,
  R,
  RE
>(
  endpoint: HttpApiEndpoint.HttpApiEndpoint<Name, Method, Path, UrlParams, Payload, Headers, Success, Error, R, RE>
): HttpApiEndpoint.HttpApiEndpoint<
  Name,
  Method,
  Path,
  UrlParams,
  Payload,
  Headers,
  Success,
  Error | PayloadTooLarge,
  R,
  RE
> => endpoint.addError(PayloadTooLarge)

/** An operation's OpenAPI text: a one-line summary and a description (both shown by API explorers). */
export const documented = (summary: string, description: string) => OpenApi.annotations({ summary, description })

/** A group's (an OpenAPI tag's) description. */
export const described = (description: string) => OpenApi.annotations({ description })
