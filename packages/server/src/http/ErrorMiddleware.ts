/**
 * The last line of the HTTP edge (a global router middleware):
 *
 * - bodies over 1 MiB → 413 PayloadTooLarge (by Content-Length before anything is read, and by
 *   the body reader's limit for chunked bodies);
 * - malformed JSON → 400 BadRequest;
 * - a route that does not exist → 404 `{ _tag: "NotFound", message }`; a path that exists asked
 *   with another method → 405 `{ _tag: "MethodNotAllowed", message }` with an `Allow` header;
 * - dependency failures that surface as defects (SQL errors, cluster delivery: MailboxFull,
 *   EntityNotAssignedToRunner, RpcClientError, timeouts) → 503 ServiceUnavailable;
 * - any other defect → 500 InternalError with a generic message and the correlation id — never a
 *   stack trace or a secret (the cause is logged, redacted by the log pipeline's annotations).
 */
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
  TaskNotFound,
  ToolFailed
} from "@devteam/domain/Errors"
import * as Correlation from "@devteam/runtime/Correlation"
import {
  HttpApiSchema,
  HttpIncomingMessage,
  HttpLayerRouter,
  HttpServerRequest,
  HttpServerResponse
} from "@effect/platform"
import { Cause, Effect, Option, Schema } from "effect"
import { allowedMethods } from "./RouteTable.js"

export const MAX_BODY_BYTES = 1024 * 1024

/** `_tag`s of failures that mean "a dependency cannot serve this now": 503, retry later. */
const unavailableTags: ReadonlySet<string> = new Set([
  "SqlError",
  "RpcClientError",
  "MailboxFull",
  "AlreadyProcessingMessage",
  "PersistenceError",
  "EntityNotAssignedToRunner",
  "EntityNotManagedByRunner",
  "RunnerUnavailable",
  "RunnerNotRegistered",
  "TimeoutException",
  "ServiceUnavailable"
])

const tagOf = (value: unknown): string | undefined =>
  typeof value === "object" && value !== null && "_tag" in value && typeof value._tag === "string"
    ? value._tag
    : undefined

const messageOf = (value: unknown): string =>
  typeof value === "object" && value !== null && "message" in value && typeof value.message === "string"
    ? value.message
    : ""

const causeMessageOf = (value: unknown): string =>
  typeof value === "object" && value !== null && "cause" in value ? messageOf(value.cause) : ""

export const errorBody = (tag: string, message: string) => ({ _tag: tag, message })

export const errorResponse = (status: number, tag: string, message: string) =>
  HttpServerResponse.unsafeJson(errorBody(tag, message), { status })

/** The response for a cause the HttpApi could not encode (a defect, or an undeclared failure). */
export const classify = (
  cause: Cause.Cause<unknown>,
  correlationId: string,
  request: { readonly method: string; readonly url: string }
): HttpServerResponse.HttpServerResponse => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure) && tagOf(failure.value) === "RouteNotFound") {
    const allowed = allowedMethods(request.url)
    return allowed.length === 0
      ? errorResponse(404, "NotFound", "no such route (see /openapi.json)")
      : HttpServerResponse.unsafeJson(
        errorBody("MethodNotAllowed", `${request.method} is not served here; allowed: ${allowed.join(", ")}`),
        { status: 405, headers: { allow: allowed.join(", ") } }
      )
  }
  const squashed = Cause.squash(cause)
  const tag = tagOf(squashed)
  if (tag === "RequestError") {
    return causeMessageOf(squashed) === "maxBytes exceeded"
      ? errorResponse(413, "PayloadTooLarge", `request body exceeds ${MAX_BODY_BYTES} bytes`)
      : errorResponse(400, "BadRequest", "malformed request body: expected JSON (body: could not be parsed)")
  }
  if (tag !== undefined && unavailableTags.has(tag)) {
    return errorResponse(
      503,
      "ServiceUnavailable",
      `a dependency cannot serve this request now (${tag}); retry later (correlation id ${correlationId})`
    )
  }
  return errorResponse(500, "InternalError", `internal error (correlation id ${correlationId})`)
}

const contentLength = (request: HttpServerRequest.HttpServerRequest): number | undefined => {
  const header = request.headers["content-length"]
  if (header === undefined) return undefined
  const n = Number(header)
  return Number.isFinite(n) ? n : undefined
}

export const layer = HttpLayerRouter.middleware((app) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const correlationId = yield* Correlation.CurrentCorrelationId
    const length = contentLength(request)
    if (length !== undefined && length > MAX_BODY_BYTES) {
      return errorResponse(413, "PayloadTooLarge", `request body exceeds ${MAX_BODY_BYTES} bytes`)
    }
    return yield* app.pipe(
      HttpIncomingMessage.withMaxBodySize(Option.some(MAX_BODY_BYTES)),
      Effect.catchAllCause((cause) => {
        if (Cause.isInterruptedOnly(cause)) return Effect.failCause(cause)
        const response = classify(cause, correlationId, request)
        const log = response.status >= 500 ? Effect.logError : Effect.logDebug
        return Effect.as(
          log(`request failed (${response.status})`, cause).pipe(
            Effect.annotateLogs({ method: request.method, url: request.url.split("?")[0] ?? "" })
          ),
          response
        )
      })
    )
  }), { global: true })

/** Domain errors an entity command may raise that some routes do not declare: answered with their own status. */
const Known = Schema.Union(
  BadRequest,
  InvalidRepoUrl,
  RepositoryAccessDenied,
  IllegalTransition,
  BranchNotFound,
  TaskNotFound,
  TaskListNotFound,
  ProjectNotFound,
  GitOperationFailed,
  ToolFailed,
  SandboxUnavailable
)
export type KnownError = typeof Known.Type

const statusOf: Record<KnownError["_tag"], number> = {
  BadRequest: HttpApiSchema.getStatusError(BadRequest),
  InvalidRepoUrl: HttpApiSchema.getStatusError(InvalidRepoUrl),
  RepositoryAccessDenied: HttpApiSchema.getStatusError(RepositoryAccessDenied),
  IllegalTransition: HttpApiSchema.getStatusError(IllegalTransition),
  BranchNotFound: HttpApiSchema.getStatusError(BranchNotFound),
  TaskNotFound: HttpApiSchema.getStatusError(TaskNotFound),
  TaskListNotFound: HttpApiSchema.getStatusError(TaskListNotFound),
  ProjectNotFound: HttpApiSchema.getStatusError(ProjectNotFound),
  GitOperationFailed: HttpApiSchema.getStatusError(GitOperationFailed),
  ToolFailed: HttpApiSchema.getStatusError(ToolFailed),
  SandboxUnavailable: HttpApiSchema.getStatusError(SandboxUnavailable)
}

/** The response a route sends for a domain error it does not declare in the HttpApi (same body shape). */
export const respond = (error: KnownError): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.unsafeJson(Schema.encodeSync(Known)(error), { status: statusOf[error._tag] })
