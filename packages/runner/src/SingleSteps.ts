/**
 * The single steps behind `/prep`, `/implement` and `/verify`, run by the project's entity so that
 * they are serialised with automation (the entity refuses them while an execution is active).
 */
import type {
  BranchNotFound,
  GitOperationFailed,
  InvalidRepoUrl,
  RepositoryAccessDenied,
  SandboxUnavailable,
  TaskNotFound,
  ToolFailed
} from "@devteam/domain/Errors"
import type { VerifyConfig } from "@devteam/domain/ExecutionConfig"
import type { ProjectId } from "@devteam/domain/Ids"
import type {
  ImplementRequest,
  ImplementResponse,
  PrepRequest,
  PrepResponse,
  VerifyFailedResponse,
  VerifyRequest,
  VerifyResponse
} from "@devteam/domain/RunnerApi"
import { Context, type Effect } from "effect"

export class SingleSteps extends Context.Tag("@devteam/runner/SingleSteps")<SingleSteps, {
  readonly prep: (
    projectId: ProjectId,
    request: PrepRequest
  ) => Effect.Effect<PrepResponse, InvalidRepoUrl | RepositoryAccessDenied | GitOperationFailed | TaskNotFound>
  readonly implement: (
    projectId: ProjectId,
    request: ImplementRequest
  ) => Effect.Effect<ImplementResponse, BranchNotFound | ToolFailed | SandboxUnavailable | GitOperationFailed>
  /** `project`: the project's verify settings (commands; criteria under the request's own). */
  readonly verify: (
    projectId: ProjectId,
    request: VerifyRequest,
    project?: VerifyConfig
  ) => Effect.Effect<VerifyResponse, VerifyFailedResponse | BranchNotFound | SandboxUnavailable | GitOperationFailed>
}>() {}
