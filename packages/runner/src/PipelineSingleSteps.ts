/**
 * The single steps behind `/prep`, `/implement` and `/verify` on the pipeline's ports.
 *
 * - prep: `Workspace.prepare` (title from the request, else the task list's title on the base
 *   branch, else TaskNotFound). The project's repository (URL, base branch) and the branches
 *   prepared for it are remembered by this runner, because `/implement` and `/verify` name only
 *   the project and the branch;
 * - implement: the branch must exist (BranchNotFound) → it is checked out clean → the tool (from
 *   the request, default aider) runs in a sandbox scoped to the call → commit on the branch;
 *   a run that did nothing is ToolFailed with the reason;
 * - verify: a sandbox scoped to the call → the Verifier → VerifyResponse, or VerifyFailedResponse
 *   (the same body with `success: false`).
 *
 * The repository of a project is known from a `/prep` on this runner (workspaces are a per-runner
 * cache too): after a restart, `/prep` again (a cheap no-op on a cached workspace).
 */
import { BranchNotFound, GitOperationFailed, TaskNotFound, ToolFailed } from "@devteam/domain/Errors"
import { DEFAULT_TASK_LIST_PATH, DEFAULT_TOOL, type VerifyConfig } from "@devteam/domain/ExecutionConfig"
import type { ProjectId, TaskId } from "@devteam/domain/Ids"
import {
  type ImplementRequest,
  ImplementResponse,
  PrepArtifacts,
  type PrepRequest,
  PrepResponse,
  VerifyFailedResponse,
  type VerifyRequest,
  VerifyResponse
} from "@devteam/domain/RunnerApi"
import { Task } from "@devteam/domain/Task"
import { indexOf } from "@devteam/domain/TaskList"
import { parse } from "@devteam/domain/TaskListParser"
import * as EgressPolicy from "@devteam/runtime/EgressPolicy"
import * as Redaction from "@devteam/runtime/Redaction"
import { Sandbox } from "@devteam/runtime/Sandbox"
import { Tools } from "@devteam/runtime/Tool"
import { Verifier } from "@devteam/runtime/Verifier"
import { Workspace } from "@devteam/runtime/Workspace"
import { Effect, Layer, Option } from "effect"
import * as ModelEnv from "./ModelEnv.js"
import { commitMessage, defaultSettings, PipelineConfig, type PipelineSettings } from "./PipelineStepRunner.js"
import { SingleSteps } from "./SingleSteps.js"
import * as StepEgress from "./StepEgress.js"

interface PreparedBranch {
  readonly taskId: TaskId
  readonly title: string
}

interface ProjectRepository {
  readonly repoUrl: string
  readonly baseBranch: string
  readonly repoPath: string
  readonly branches: Map<string, PreparedBranch>
}

/** Anything the Workspace refuses as input here (a validated value git still refused) is a git failure. */
const asGitFailure = (operation: string) => (error: { readonly message: string }) =>
  new GitOperationFailed({ operation, message: error.message })

export type SingleStepsRequirements = Workspace | Sandbox | Tools | Verifier | Redaction.Redactor

export const make = (
  settings: Pick<PipelineSettings, "modelEnv" | "egress"> = defaultSettings
): Effect.Effect<SingleSteps["Type"], never, SingleStepsRequirements> =>
  Effect.gen(function*() {
    const workspace = yield* Workspace
    const sandboxes = yield* Sandbox
    const tools = yield* Tools
    const verifier = yield* Verifier
    const redactor = yield* Redaction.Redactor
    yield* ModelEnv.registerSecrets(redactor, settings.modelEnv)
    const projects = new Map<ProjectId, ProjectRepository>()

    const titleFromTaskList = (request: PrepRequest) =>
      Effect.gen(function*() {
        const repo = yield* workspace.sync({ repoUrl: request.repoUrl, baseBranch: request.baseBranch })
        const text = yield* workspace.readTaskList({
          repoPath: repo.repoPath,
          baseBranch: repo.baseBranch,
          path: DEFAULT_TASK_LIST_PATH
        })
        const list = Option.map(text, parse)
        const task = Option.flatMap(list, (l) => Option.fromNullable(l.tasks[indexOf(l, request.taskId)]))
        if (Option.isNone(task)) {
          return yield* new TaskNotFound({
            taskId: request.taskId,
            message: Option.isNone(text)
              ? `no title given and no task list at ${DEFAULT_TASK_LIST_PATH} on ${repo.baseBranch}`
              : `no title given and no task ${request.taskId} in ${DEFAULT_TASK_LIST_PATH}`
          })
        }
        return task.value.title
      })

    const prep = (projectId: ProjectId, request: PrepRequest) =>
      Effect.gen(function*() {
        const title = request.title ?? (yield* titleFromTaskList(request))
        const result = yield* workspace.prepare({
          repoUrl: request.repoUrl,
          project: projectId,
          baseBranch: request.baseBranch,
          taskId: request.taskId,
          title
        })
        const known = projects.get(projectId)
        const branches = known !== undefined && known.repoPath === result.repoPath ? known.branches : new Map()
        branches.set(result.branch, { taskId: request.taskId, title })
        projects.set(projectId, {
          repoUrl: request.repoUrl,
          baseBranch: result.baseBranch,
          repoPath: result.repoPath,
          branches
        })
        return new PrepResponse({
          success: true,
          projectId,
          taskId: request.taskId,
          branch: result.branch,
          repoPath: result.repoPath,
          idempotencyKey: request.idempotencyKey ?? null,
          artifacts: new PrepArtifacts({
            cloned: result.cloned,
            branchCreated: result.branchCreated,
            workingDirectory: result.repoPath
          })
        })
      }).pipe(
        Effect.catchTags({ BadRequest: asGitFailure("prep"), BranchNotFound: asGitFailure("prep") }),
        Effect.withSpan("SingleSteps.prep")
      )

    /** The project's repository and the branch checked out clean (BranchNotFound when unknown). */
    const checkout = (projectId: ProjectId, branch: string) =>
      Effect.gen(function*() {
        const repo = projects.get(projectId)
        if (repo === undefined) {
          return yield* new BranchNotFound({
            branch,
            message: `no prepared repository for project ${projectId} on this runner: call /prep first`
          })
        }
        const exists = yield* workspace.branchExists({ repoPath: repo.repoPath, branch })
        const known = repo.branches.get(branch)
        if (!exists || known === undefined) {
          return yield* new BranchNotFound({
            branch,
            message: exists
              ? `branch ${branch} was not prepared on this runner: call /prep for its task first`
              : `branch ${branch} does not exist: call /prep first`
          })
        }
        // prepare is idempotent: fetch, clean leftovers, check the (existing) task branch out.
        yield* workspace.prepare({
          repoUrl: repo.repoUrl,
          project: projectId,
          baseBranch: repo.baseBranch,
          taskId: known.taskId,
          title: known.title
        })
        return { repo, known }
      })

    const implement = (projectId: ProjectId, request: ImplementRequest) =>
      Effect.gen(function*() {
        const { known, repo } = yield* checkout(projectId, request.branch)
        const requirements = request.criteria.requirements ?? []
        const task = new Task({
          id: request.taskId,
          title: known.taskId === request.taskId ? known.title : request.taskId,
          description: request.criteria.description,
          type: "atomic",
          dependencies: [],
          files: [...(request.criteria.files ?? [])],
          criteria: Object.fromEntries(requirements.map((r, i) => [`requirement.${i + 1}`, r])),
          phase: 0,
          status: "in_progress"
        })
        const tool = yield* tools.get(request.tool ?? DEFAULT_TOOL)
        const artifact = yield* Effect.scoped(Effect.gen(function*() {
          const handle = yield* sandboxes.acquire({
            projectId,
            executionId: crypto.randomUUID(),
            workspacePath: repo.repoPath
          })
          // The same egress window as the pipeline's IMPLEMENT: the tool's model hosts and the operator's additions.
          const allow = EgressPolicy.implementAllowList(tool.egress, settings.egress, [])
          const ran = yield* StepEgress.withEgress(
            handle,
            "IMPLEMENT",
            allow,
            StepEgress.serviceLog,
            tool.run({ sandbox: handle, task, workspacePath: repo.repoPath, env: settings.modelEnv })
          )
          return ran.value
        }))
        if (!artifact.success) {
          return yield* new ToolFailed({
            tool: tool.name,
            message: redactor.redact(`${tool.name} failed: ${artifact.failureReason ?? "unknown reason"}`)
          })
        }
        const committed = yield* workspace.commitAll({
          repoPath: repo.repoPath,
          branch: request.branch,
          baseBranch: repo.baseBranch,
          message: commitMessage(task)
        })
        return new ImplementResponse({
          success: true,
          taskId: request.taskId,
          tool: tool.name,
          artifacts: artifact.outputs,
          duration: artifact.duration,
          commit: committed.commit
        })
      }).pipe(
        Effect.catchTags({
          BadRequest: asGitFailure("implement"),
          InvalidRepoUrl: asGitFailure("implement"),
          RepositoryAccessDenied: asGitFailure("implement")
        }),
        Effect.withSpan("SingleSteps.implement")
      )

    const verify = (projectId: ProjectId, request: VerifyRequest, project?: VerifyConfig) =>
      Effect.gen(function*() {
        const { known, repo } = yield* checkout(projectId, request.branch)
        const diff = yield* workspace.diffSummary({
          repoPath: repo.repoPath,
          branch: request.branch,
          baseBranch: repo.baseBranch
        })
        const criteria = { ...project?.criteria, ...request.criteria }
        const commands = project?.commands
        const task = new Task({
          id: request.taskId,
          title: known.title,
          description: "",
          type: "atomic",
          dependencies: [],
          files: [],
          criteria,
          phase: 0,
          status: "in_progress"
        })
        const result = yield* Effect.scoped(Effect.gen(function*() {
          const handle = yield* sandboxes.acquire({
            projectId,
            executionId: crypto.randomUUID(),
            workspacePath: repo.repoPath
          })
          // The same egress window as the pipeline's VERIFY: the registries the base branch configures, and
          // the operator's additions (without one, an install in a Docker sandbox reaches no registry).
          const allow = yield* EgressPolicy.verifyAllowList(repo.repoPath, repo.baseBranch, settings.egress)
          const verified = yield* StepEgress.withEgress(
            handle,
            "VERIFY",
            allow,
            StepEgress.serviceLog,
            verifier.verify({
              sandbox: handle,
              task,
              criteria,
              diffFiles: diff.filesModified,
              ...(commands === undefined ? {} : { commands })
            })
          )
          return verified.value
        }))
        const body = {
          taskId: request.taskId,
          results: result.results,
          artifacts: {
            buildOutput: result.artifacts.buildOutput,
            ...(result.artifacts.testOutput === undefined ? {} : { testOutput: result.artifacts.testOutput }),
            ...(result.artifacts.coverageReport === undefined ? {} : {
              coverageReport: result.artifacts.coverageReport
            }),
            ...(result.artifacts.typeCheckOutput === undefined ? {} : {
              typeCheckOutput: result.artifacts.typeCheckOutput
            })
          }
        }
        if (!result.success) return yield* Effect.fail(new VerifyFailedResponse({ success: false, ...body }))
        return new VerifyResponse({ success: true, ...body })
      }).pipe(
        Effect.catchTags({
          BadRequest: asGitFailure("verify"),
          InvalidRepoUrl: asGitFailure("verify"),
          RepositoryAccessDenied: asGitFailure("verify")
        }),
        Effect.withSpan("SingleSteps.verify")
      )

    return SingleSteps.of({ prep, implement, verify })
  })

/** Single steps with the model keys given. */
export const layerWith = (
  settings: Pick<PipelineSettings, "modelEnv" | "egress">
): Layer.Layer<SingleSteps, never, SingleStepsRequirements> => Layer.effect(SingleSteps, make(settings))

/** Single steps with the model keys from the environment (`PipelineConfig`). */
export const layer = Layer.effect(SingleSteps, Effect.flatMap(PipelineConfig, make))
