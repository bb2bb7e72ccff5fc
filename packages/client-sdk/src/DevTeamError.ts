/**
 * The one exception type of the Promise client. `_tag` is the server's error tag (`ProjectNotFound`,
 * `IllegalTransition`, …, see `@devteam/domain/Errors`) or one of the client's own:
 *
 * | `_tag` | status | when |
 * |---|---|---|
 * | a domain tag | the HTTP status | the server answered with a declared error |
 * | `BadRequest` (`fromServer: false`) | 400 | the input failed the API's schema; nothing was sent |
 * | `NetworkError` | 0 | no response (refused, reset, DNS) after the client's retries |
 * | `UnexpectedResponse` | the HTTP status, or 0 | a response the API does not declare (a proxy's 502, a body that does not decode) |
 * | `Aborted` | 0 | the caller's `AbortSignal` fired |
 */
import type * as Errors from "@devteam/domain/Errors"

/** Every error tag the server declares. */
export type ServerErrorTag =
  | Errors.BadRequest["_tag"]
  | Errors.InvalidRepoUrl["_tag"]
  | Errors.Unauthorized["_tag"]
  | Errors.Forbidden["_tag"]
  | Errors.ProjectNotFound["_tag"]
  | Errors.TaskNotFound["_tag"]
  | Errors.TaskListNotFound["_tag"]
  | Errors.BranchNotFound["_tag"]
  | Errors.ExecutionNotFound["_tag"]
  | Errors.ErrorNotFound["_tag"]
  | Errors.EventNotFound["_tag"]
  | Errors.IllegalTransition["_tag"]
  | Errors.RepositoryAccessDenied["_tag"]
  | Errors.MergeConflict["_tag"]
  | Errors.PushRejected["_tag"]
  | Errors.IdempotencyKeyInProgress["_tag"]
  | Errors.PayloadTooLarge["_tag"]
  | Errors.IdempotencyKeyMismatch["_tag"]
  | Errors.GitOperationFailed["_tag"]
  | Errors.ToolFailed["_tag"]
  | Errors.SandboxUnavailable["_tag"]
  | Errors.ServiceUnavailable["_tag"]
  | Errors.InternalError["_tag"]

/** Every server tag, once: a `Record` so that a tag missing here, or misspelt, fails to compile. */
const serverErrorTags: Readonly<Record<ServerErrorTag, true>> = {
  BadRequest: true,
  InvalidRepoUrl: true,
  Unauthorized: true,
  Forbidden: true,
  ProjectNotFound: true,
  TaskNotFound: true,
  TaskListNotFound: true,
  BranchNotFound: true,
  ExecutionNotFound: true,
  ErrorNotFound: true,
  EventNotFound: true,
  IllegalTransition: true,
  RepositoryAccessDenied: true,
  MergeConflict: true,
  PushRejected: true,
  IdempotencyKeyInProgress: true,
  PayloadTooLarge: true,
  IdempotencyKeyMismatch: true,
  GitOperationFailed: true,
  ToolFailed: true,
  SandboxUnavailable: true,
  ServiceUnavailable: true,
  InternalError: true
}

export const isServerErrorTag = (tag: string): tag is ServerErrorTag => Object.hasOwn(serverErrorTags, tag)

export type ClientErrorTag = "NetworkError" | "UnexpectedResponse" | "Aborted"

export type DevTeamErrorTag = ServerErrorTag | ClientErrorTag

export class DevTeamError<Tag extends DevTeamErrorTag = DevTeamErrorTag> extends Error {
  override readonly name = "DevTeamError"
  readonly _tag: Tag
  /** HTTP status; 0 when there was no (usable) response. */
  readonly status: number
  /** Sent as `x-correlation-id`: the server's logs and journal entries for this call carry it. */
  readonly correlationId: string
  /** False when the client refused the input before sending anything. */
  readonly fromServer: boolean
  /** The server's error body (`{ _tag, message, ...fields }`), e.g. `projectId` of `ProjectNotFound`. */
  readonly body: Readonly<Record<string, unknown>> | undefined

  constructor(options: {
    readonly tag: Tag
    readonly status: number
    readonly message: string
    readonly correlationId: string
    readonly fromServer: boolean
    readonly body?: Readonly<Record<string, unknown>> | undefined
    readonly cause?: unknown
  }) {
    super(options.message, options.cause === undefined ? undefined : { cause: options.cause })
    this._tag = options.tag
    this.status = options.status
    this.correlationId = options.correlationId
    this.fromServer = options.fromServer
    this.body = options.body
  }
}

/** Narrows an unknown rejection: any `DevTeamError`, or one with the given tag(s). */
export const isDevTeamError = <Tag extends DevTeamErrorTag = DevTeamErrorTag>(
  error: unknown,
  ...tags: ReadonlyArray<Tag>
): error is DevTeamError<Tag> =>
  error instanceof DevTeamError && (tags.length === 0 || tags.some((tag) => tag === error._tag))
