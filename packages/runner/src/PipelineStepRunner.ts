/**
 * The real pipeline behind the `StepRunner` port: SELECT → PREP → IMPLEMENT → VERIFY → MERGE → PUSH
 * → UPDATE_TASKLIST on the runtime's ports (Workspace, Sandbox, Tools, Verifier, TaskListSource).
 *
 * - Every step is idempotent (pipeline.md): the Workspace detects work already done (branch exists,
 *   already merged, already pushed, already ticked); IMPLEMENT does not run the tool again when the
 *   task branch already holds the change, and cleans an interrupted run's leftovers before a retry.
 * - The sandbox is acquired once per execution, in the execution's scope (the container lives
 *   across steps and is removed when the execution loop ends), and reused by IMPLEMENT and VERIFY.
 * - Task branches are published to the remote after IMPLEMENT (and after every refresh): a runner
 *   that takes a project over mid-task (failover, separate workspaces) restores the branch from
 *   there in VERIFY / MERGE / PUSH, and PUSH merges it again when the dead runner's merge never
 *   reached the remote. Work done is never redone and never lost.
 * - Secrets are scoped per step: git credentials stay inside the Workspace, the model key reaches
 *   only IMPLEMENT's tool, the verify commands get neither.
 * - Transient infrastructure failures (sandbox unavailable, a git network operation failing) are
 *   retried inside the step with exponential backoff (default 2 retries); typed domain failures
 *   (merge conflict, push rejected after its own rebase, verify failure, tool did nothing) are not.
 * - Every failure becomes a redacted `ExecutionError` record (category tool / verify / git /
 *   infrastructure / blocked-by-dependencies); sandbox and tool output lines go to the execution
 *   log through a `LogBatcher`. Interruption (stop) is never caught: scoped resources kill the
 *   running command.
 */
import { OperationArtifact, OperationOutputs, VerificationResult } from "@devteam/domain/Artifacts"
import { EgressSummary } from "@devteam/domain/Egress"
import type {
  BadRequest,
  BranchNotFound,
  GitOperationFailed,
  InvalidRepoUrl,
  MergeConflict,
  PushRejected,
  RepositoryAccessDenied,
  SandboxUnavailable,
  TaskListNotFound,
  TaskNotFound,
  ToolFailed
} from "@devteam/domain/Errors"
import type { ExecutionConfig } from "@devteam/domain/ExecutionConfig"
import { type ErrorCategory, ExecutionError } from "@devteam/domain/ExecutionError"
import type { Step } from "@devteam/domain/ExecutionStatus"
import { ErrorId, type ExecutionId } from "@devteam/domain/Ids"
import { TaskPatch } from "@devteam/domain/Injection"
import {
  ImplementCompleted,
  LogLine,
  MergeCompleted,
  PrepCompleted,
  PushCompleted,
  TaskListUpdated,
  TaskSelected,
  VerifyCompleted
} from "@devteam/domain/JournalEvent"
import { Task } from "@devteam/domain/Task"
import { summary } from "@devteam/domain/TaskList"
import type { EditsResult } from "@devteam/domain/TaskListRenderer"
import { addInjected, applyEdits, editsToWrite, markCompleted } from "@devteam/domain/TaskListRenderer"
import * as TaskSelection from "@devteam/domain/TaskSelection"
import * as AiderTool from "@devteam/runtime/AiderTool"
import * as ClaudeCodeTool from "@devteam/runtime/ClaudeCodeTool"
import * as EgressPolicy from "@devteam/runtime/EgressPolicy"
import type * as Prompt from "@devteam/runtime/Prompt"
import * as PromptContext from "@devteam/runtime/PromptContext"
import * as Redaction from "@devteam/runtime/Redaction"
import { type OutputLine, Sandbox, type SandboxHandle, type SandboxResources } from "@devteam/runtime/Sandbox"
import * as SandboxLayer from "@devteam/runtime/SandboxLayer"
import * as ScriptTool from "@devteam/runtime/ScriptTool"
import * as Tool from "@devteam/runtime/Tool"
import { Tools } from "@devteam/runtime/Tool"
import * as VerifierModule from "@devteam/runtime/Verifier"
import { Verifier } from "@devteam/runtime/Verifier"
import { Workspace } from "@devteam/runtime/Workspace"
import {
  Config,
  type ConfigError,
  Data,
  DateTime,
  Duration,
  Effect,
  ExecutionStrategy,
  Exit,
  Layer,
  Option,
  Redacted,
  Schedule,
  Schema,
  Scope
} from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as LogBatcher from "./LogBatcher.js"
import * as ModelEnv from "./ModelEnv.js"
import * as StepEgress from "./StepEgress.js"
import { type StepContext, StepResult, StepRunner } from "./StepRunner.js"
import { TaskListSource } from "./TaskListSource.js"

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

/** The model provider settings (keys, base URLs, AZURE_*, AWS_*, AIDER_*…) for IMPLEMENT only. */
export const ModelEnvConfig = ModelEnv.ModelEnvConfig

export interface PipelineSettings {
  /** The model provider settings passed to IMPLEMENT's tool, and to nothing else. */
  readonly modelEnv: Readonly<Record<string, Redacted.Redacted<string>>>
  /** Retries of a transient infrastructure failure inside one step (default 2). */
  readonly infraRetries: number
  /** First backoff delay; doubled on each retry (default 500 ms). */
  readonly retryBase: Duration.Duration
  /** Execution-log flush interval while output flows (default 100 ms). */
  readonly logInterval: Duration.Duration
  /** The operator's egress additions per step (EGRESS_ALLOW_IMPLEMENT / EGRESS_ALLOW_VERIFY). */
  readonly egress: EgressPolicy.EgressPolicySettings
}

export const PipelineConfig: Config.Config<PipelineSettings> = Config.all({
  modelEnv: ModelEnvConfig,
  infraRetries: Config.integer("PIPELINE_INFRA_RETRIES").pipe(
    Config.withDefault(2),
    Config.validate({ message: "PIPELINE_INFRA_RETRIES must be between 0 and 5", validation: (n) => n >= 0 && n <= 5 }),
    Config.withDescription("Retries of a transient infrastructure failure (sandbox, git network) inside one step")
  ),
  retryBase: Config.duration("PIPELINE_RETRY_BASE").pipe(
    Config.withDefault(Duration.millis(500)),
    Config.withDescription("First backoff delay of those retries (doubled each time)")
  ),
  logInterval: Config.duration("PIPELINE_LOG_INTERVAL").pipe(
    Config.withDefault(LogBatcher.DEFAULT_INTERVAL),
    Config.withDescription("Execution-log flush interval while output flows")
  ),
  egress: EgressPolicy.EgressPolicyConfig
})

export const defaultSettings: PipelineSettings = {
  modelEnv: {},
  infraRetries: 2,
  retryBase: Duration.millis(500),
  logInterval: LogBatcher.DEFAULT_INTERVAL,
  egress: EgressPolicy.noAdditions
}

// ---------------------------------------------------------------------------------------------
// Failures
// ---------------------------------------------------------------------------------------------

/** A failure the pipeline itself decides on (tool did nothing, verify failed, blocked…). */
export class PipelineFailure extends Data.TaggedError("PipelineFailure")<{
  readonly category: ErrorCategory
  readonly message: string
  readonly details: unknown
  readonly logs: ReadonlyArray<string>
  /** Attempts made inside the port (the Verifier's own retries), when more than the step's. */
  readonly attempts?: number
}> {}

export type StepFailure =
  | PipelineFailure
  | BadRequest
  | BranchNotFound
  | GitOperationFailed
  | InvalidRepoUrl
  | MergeConflict
  | PushRejected
  | RepositoryAccessDenied
  | SandboxUnavailable
  | TaskListNotFound
  | TaskNotFound
  | ToolFailed

/** git operations that talk to the remote: their failures may be the network's. */
const networkOperations = new Set(["clone", "fetch", "push", "ls-remote", "resolve"])

/** Whether a failure is worth retrying inside the step (infrastructure, not a verdict). */
export const isTransient = (error: StepFailure): boolean =>
  error._tag === "SandboxUnavailable" ||
  // the tool's run was cut by the sandbox going away (engine down), not a verdict on the tool
  (error._tag === "ToolFailed" && error.message.startsWith("sandbox unavailable")) ||
  (error._tag === "GitOperationFailed" && networkOperations.has(error.operation))

export const categoryOf = (error: StepFailure): ErrorCategory => {
  switch (error._tag) {
    case "PipelineFailure":
      return error.category
    case "SandboxUnavailable":
      return "infrastructure"
    case "ToolFailed":
      return error.message.startsWith("sandbox unavailable") ? "infrastructure" : "tool"
    default:
      return "git"
  }
}

const detailsOf = (error: StepFailure): unknown => {
  switch (error._tag) {
    case "PipelineFailure":
      return error.details
    case "MergeConflict":
      return { branch: error.branch, files: [...error.files] }
    case "PushRejected":
    case "BranchNotFound":
      return { branch: error.branch }
    case "GitOperationFailed":
      return { operation: error.operation }
    case "TaskListNotFound":
      return { path: error.path }
    case "TaskNotFound":
      return { taskId: error.taskId }
    case "ToolFailed":
      return { tool: error.tool }
    default:
      return { reason: error._tag }
  }
}

/** Redacts every string inside a JSON-like value. */
const redactDeep = (redact: (s: string) => string, value: unknown, depth = 0): unknown => {
  if (typeof value === "string") return redact(value)
  if (depth > 20 || value === null || typeof value !== "object") return value
  if (Array.isArray(value)) return value.map((v) => redactDeep(redact, v, depth + 1))
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) out[k] = redactDeep(redact, v, depth + 1)
  return out
}

/** One line: the failing command with its exit code, then the criteria not met with their figures. */
export const verifyFailureSummary = (result: VerificationResult): string => {
  const parts: Array<string> = []
  const failed = result.failedCommand
  if (failed !== undefined) {
    parts.push(`${failed.name} \`${failed.command}\` ${failed.timedOut ? "timed out" : `exited ${failed.exitCode}`}`)
  }
  for (const [key, r] of Object.entries(result.results)) {
    if (!r.passed) parts.push(`${key} not met (${r.actual ?? "?"}; required ${r.required ?? "?"})`)
  }
  return parts.length === 0 ? "the verify commands failed" : parts.join("; ")
}

/** The error record's details: what failed, once — the outputs stay in the journaled result. */
const verifyFailureDetails = (result: VerificationResult) => {
  const encoded = Schema.encodeSync(VerificationResult)(result)
  return {
    ...(encoded.failedCommand === undefined ? {} : { failedCommand: encoded.failedCommand }),
    results: encoded.results,
    ...(encoded.packageManager === undefined ? {} : { packageManager: encoded.packageManager }),
    ...(encoded.warnings === undefined ? {} : { warnings: encoded.warnings })
  }
}

/** The last `n` non-empty lines of a text. */
const lastLines = (text: string, n = 50): Array<string> => text.split("\n").filter((l) => l.trim().length > 0).slice(-n)

// ---------------------------------------------------------------------------------------------
// The runner
// ---------------------------------------------------------------------------------------------

interface SandboxEntry {
  readonly executionId: ExecutionId
  readonly workspacePath: string
  readonly handle: SandboxHandle
  readonly scope: Scope.CloseableScope
}

interface Prepared {
  readonly config: ExecutionConfig
  readonly task: Task
  readonly branch: string
  readonly repoPath: string
}

const now = Effect.map(DateTime.now, DateTime.formatIso)

const resourcesOf = (config: ExecutionConfig): Partial<SandboxResources> => ({
  ...(config.resources?.cpus === undefined ? {} : { cpus: config.resources.cpus }),
  ...(config.resources?.memoryMiB === undefined ? {} : { memoryMiB: config.resources.memoryMiB })
})

/** The commit message of a task's change on its branch. */
export const commitMessage = (task: Pick<Task, "id" | "title">): string => `task ${task.id}: ${task.title}`

export type PipelineRequirements = Workspace | Sandbox | Tools | Verifier | TaskListSource | Redaction.Redactor

export const make = (
  settings: PipelineSettings = defaultSettings
): Effect.Effect<StepRunner["Type"], never, PipelineRequirements> =>
  Effect.gen(function*() {
    const workspace = yield* Workspace
    const sandboxes = yield* Sandbox
    const tools = yield* Tools
    const verifier = yield* Verifier
    const taskLists = yield* TaskListSource
    const redactor = yield* Redaction.Redactor
    const redact = redactor.redact
    yield* ModelEnv.registerSecrets(redactor, settings.modelEnv)

    // One sandbox per execution, keyed by the execution's scope: a resumed execution runs in a new
    // scope (the old container was removed when the previous loop ended) and gets a new one.
    const acquired = new WeakMap<Scope.Scope, SandboxEntry>()

    // No lock: the steps of one execution run one after the other (the actor's loop), and
    // different executions never share an entry.
    const sandboxFor = (context: StepContext, executionId: ExecutionId, prepared: Prepared) =>
      Effect.gen(function*() {
        const existing = acquired.get(context.executionScope)
        if (
          existing !== undefined && existing.executionId === executionId &&
          existing.workspacePath === prepared.repoPath
        ) {
          return existing.handle
        }
        if (existing !== undefined) {
          acquired.delete(context.executionScope)
          yield* Scope.close(existing.scope, Exit.void)
        }
        const scope = yield* Scope.fork(context.executionScope, ExecutionStrategy.sequential)
        const handle = yield* sandboxes.acquire({
          projectId: context.state.projectId,
          executionId,
          workspacePath: prepared.repoPath,
          resources: resourcesOf(prepared.config)
        }).pipe(
          Scope.extend(scope),
          Effect.onError(() => Scope.close(scope, Exit.void))
        )
        acquired.set(context.executionScope, { executionId, workspacePath: prepared.repoPath, handle, scope })
        return handle
      })

    /** Drops the execution's sandbox (it failed): the next use acquires a fresh one. */
    const dropSandbox = (context: StepContext) =>
      Effect.suspend(() => {
        const existing = acquired.get(context.executionScope)
        if (existing === undefined) return Effect.void
        acquired.delete(context.executionScope)
        return Scope.close(existing.scope, Exit.void)
      })

    const stepFor = (step: Step, context: StepContext, executionId: ExecutionId, logs: LogBatcher.LogBatcher) => {
      const state = context.state
      // each project works in its own tree, even when several share a repository
      const project = state.projectId
      const info = (message: string) => logs.log("info", message)
      const onLine = (line: OutputLine): Effect.Effect<void> =>
        logs.offer(
          new LogLine({
            level: line.stream === "stderr" ? "warn" : "info",
            message: line.text,
            at: new Date().toISOString()
          }, true)
        )

      const requireConfig = Effect.suspend(() =>
        state.config === null
          ? Effect.fail(
            new PipelineFailure({
              category: "infrastructure",
              message: "the execution has no configuration (it was never initialized)",
              details: {},
              logs: []
            })
          )
          : Effect.succeed(state.config)
      )

      const requireTask = Effect.suspend(() =>
        state.currentTask === null
          ? Effect.fail(
            new PipelineFailure({
              category: "infrastructure",
              message: `${step} needs a selected task, and none is selected`,
              details: {},
              logs: []
            })
          )
          : Effect.succeed(state.currentTask)
      )

      /** Config, task, branch and workspace of a step after PREP. */
      const prepared = Effect.gen(function*() {
        const config = yield* requireConfig
        const task = yield* requireTask
        if (state.branch === null || state.repoPath === null) {
          return yield* new PipelineFailure({
            category: "git",
            message: `${step} for task ${task.id}: no prepared branch (PREP has not completed for this task)`,
            details: {},
            logs: []
          })
        }
        // The journaled repoPath is where PREP ran — after a failover, another runner's disk. Every
        // runner derives its own work tree from the repository URL.
        const repoPath = Path.join(workspace.config.workspaceDir, yield* workspace.repoKey(config.repoUrl, project))
        return { config, task, branch: state.branch, repoPath } satisfies Prepared
      })

      /** The workspace is a cache: after a failover to another runner it may be missing; PREP rebuilds it. */
      const workspacePresent = (repoPath: string) =>
        Effect.sync(() => Fs.existsSync(Path.join(repoPath, ".git", "HEAD")))

      const prepareAgain = (p: Prepared) =>
        workspace.prepare({
          repoUrl: p.config.repoUrl,
          project,
          baseBranch: p.config.baseBranch,
          taskId: p.task.id,
          title: p.task.title
        })

      const select = Effect.gen(function*() {
        const config = yield* requireConfig
        const list = yield* taskLists.read(config)
        // Tasks this execution completed count as done even when the file lags (a crash before the tick).
        const patches = [
          ...state.patches,
          ...state.completedInExecution.map((id) => [id, new TaskPatch({ status: "completed" }, true)] as const)
        ]
        const manual = list.tasks.filter((t) => t.type === "atomic" && t.status === "skipped").map((t) => t.id)
        if (manual.length > 0) {
          yield* info(
            `SELECT: skipping ${manual.length} manual task(s), left to a person: ${manual.slice(0, 20).join(", ")}${
              manual.length > 20 ? ", …" : ""
            }`
          )
        }
        const figures = summary(TaskSelection.effectiveTasks(list, state.injections, patches))
        const selection = TaskSelection.select(list, state.injections, patches)
        switch (selection._tag) {
          case "Finished": {
            yield* info(`SELECT: nothing left to do (${figures.completedTasks}/${figures.totalTasks} tasks done)`)
            return StepResult.Finished({ totalTasks: figures.totalTasks, completedTasks: figures.completedTasks })
          }
          case "Blocked": {
            const blockers = selection.blockers.map((b) => ({ taskId: b.taskId, waitingOn: [...b.waitingOn] }))
            const shown = blockers.slice(0, 20).map((b) => `${b.taskId} waits on ${b.waitingOn.join(", ") || "?"}`)
            return yield* new PipelineFailure({
              category: "blocked-by-dependencies",
              message: `Blocked by dependencies: ${
                figures.totalTasks - figures.completedTasks
              } task(s) remain but none can run — ${shown.join("; ")}${
                blockers.length > shown.length ? `; and ${blockers.length - shown.length} more` : ""
              }. Complete, skip or edit the tasks they wait on.`,
              details: { blockers },
              logs: []
            })
          }
          case "Selected": {
            yield* info(`SELECT: ${selection.task.id} ${selection.task.title}`)
            return StepResult.Completed({
              outcome: new TaskSelected({
                v: 1,
                at: yield* now,
                task: selection.task,
                totalTasks: figures.totalTasks,
                completedTasks: figures.completedTasks
              })
            })
          }
        }
      })

      const prep = Effect.gen(function*() {
        const config = yield* requireConfig
        const task = yield* requireTask
        const result = yield* workspace.prepare({
          repoUrl: config.repoUrl,
          project,
          baseBranch: config.baseBranch,
          taskId: task.id,
          title: task.title
        })
        yield* info(
          `PREP: branch ${result.branch} ${result.branchCreated ? "created" : "reused"}${
            result.cloned ? " (repository cloned)" : ""
          }`
        )
        return StepResult.Completed({
          outcome: new PrepCompleted({
            v: 1,
            at: yield* now,
            taskId: task.id,
            branch: result.branch,
            repoPath: result.repoPath,
            cloned: result.cloned,
            branchCreated: result.branchCreated
          })
        })
      })

      /** Merges the remote base into the task branch when it moved (no-op otherwise). */
      const refreshFromBase = (
        p: { readonly branch: string; readonly config: ExecutionConfig; readonly repoPath: string },
        step: string
      ) =>
        Effect.gen(function*() {
          const refreshed = yield* workspace.refreshBranch({
            repoUrl: p.config.repoUrl,
            project,
            branch: p.branch,
            baseBranch: p.config.baseBranch
          })
          if (refreshed.updated) {
            yield* info(`${step}: brought the updated ${p.config.baseBranch} into ${p.branch}`)
            yield* publish(p.repoPath, p.branch)
          }
        })

      /** The task branch's durable copy, for a runner that takes the project over. */
      const publish = (repoPath: string, branch: string) =>
        Effect.flatMap(
          workspace.publishBranch({ repoPath, branch }),
          (r) => r.alreadyPublished ? Effect.void : info(`published ${branch} at ${r.commit.slice(0, 12)}`)
        )

      /**
       * The task branch on this runner: present when this runner made it; after a failover, taken
       * from the published copy. True when it was restored (this runner did not have it).
       */
      const ensureTaskBranch = (p: Prepared, step: Step) =>
        Effect.gen(function*() {
          const result = yield* workspace.ensureTaskBranch({
            repoUrl: p.config.repoUrl,
            project,
            branch: p.branch
          })
          if (result.restored) {
            yield* info(`${step}: ${p.branch} was not in this runner's workspace; restored from the remote`)
          }
          return result.restored
        })

      /**
       * A re-run (a resume after FAILED): a fix pushed to the remote's task branch meanwhile wins
       * over this workspace's stale copy. This, or a fix on the base branch, is how a failed task is
       * fixed (docs/operations.md).
       */
      const pullFix = (p: Prepared, step: Step) =>
        Effect.gen(function*() {
          const result = yield* workspace.pullTaskBranch({ repoUrl: p.config.repoUrl, project, branch: p.branch })
          if (result.pulled) {
            yield* info(`${step}: took ${p.branch} from the remote at ${result.head.slice(0, 12)} (pushed meanwhile)`)
          }
        })

      /** The prompt's context: placement in the list, dependencies' changes, guidance, verification, a fix. */
      const implementContext = (p: Prepared, fix: VerificationResult | null) =>
        Effect.gen(function*() {
          // SELECT read it fresh a moment ago: the cached list (no fetch) places the task
          const list = yield* Effect.option(Effect.map(taskLists.cached(p.config), (c) => c.list))
          const guidance = yield* PromptContext.guidance(p.repoPath)
          const dependencies = Option.isSome(list)
            ? yield* PromptContext.dependencies(p.repoPath, p.config.baseBranch, list.value, p.task)
            : []
          return {
            ...(Option.isSome(list) ? PromptContext.placement(list.value, p.task) : {}),
            dependencies: dependencies.map((d) => ({ ...d, diffstat: redact(d.diffstat) })),
            guidance: guidance.map((g) => ({ file: g.file, excerpt: redact(g.excerpt) })),
            ...(p.config.verify?.commands === undefined ? {} : { verifyCommands: p.config.verify.commands }),
            ...(fix === null ? {} : { fix: PromptContext.fixContext(fix, verifier.retries + 1) })
          } satisfies Prompt.PromptContext
        })

      const implement = Effect.gen(function*() {
        const p = yield* prepared
        const { branch, config, repoPath, task } = p
        const baseBranch = config.baseBranch
        const message = commitMessage(task)
        const attempt = state.cursor?.step === "IMPLEMENT" ? state.cursor.attempt : 1
        const present = yield* workspacePresent(repoPath)
        if (!present) {
          yield* info("IMPLEMENT: the workspace is missing on this runner; preparing it again")
          yield* prepareAgain(p)
        }
        if (attempt > 1 && present) yield* pullFix(p, "IMPLEMENT")
        // Idempotence: on a re-run (a crash, a resume) the task branch may already hold the change →
        // report it, do not run the tool again. (A first attempt follows a PREP of this execution.)
        const existing = attempt > 1 || !present
          ? yield* workspace.diffSummary({ repoPath, branch, baseBranch })
          : undefined
        if (existing !== undefined && existing.filesModified.length > 0) {
          const done = yield* workspace.commitAll({ repoPath, branch, baseBranch, message })
          yield* info(`IMPLEMENT: ${branch} already holds the change (${done.commit.slice(0, 12)}); tool not run again`)
          yield* publish(repoPath, branch)
          return StepResult.Completed({
            outcome: new ImplementCompleted({
              v: 1,
              at: yield* now,
              taskId: task.id,
              commit: done.commit,
              artifact: new OperationArtifact({
                operation: "implement",
                taskId: task.id,
                tool: config.tool,
                success: true,
                duration: 0,
                outputs: new OperationOutputs({
                  diff: done.diff,
                  stdout: "",
                  stderr: "",
                  filesModified: [...done.filesModified],
                  linesChanged: done.linesChanged
                })
              })
            })
          })
        }
        // A re-run after an interrupted tool: start again from a clean task branch, with whatever
        // was pushed to the base meanwhile (a fix for the failure that made us re-run).
        if (attempt > 1 && present) {
          yield* prepareAgain(p)
          yield* refreshFromBase(p, "IMPLEMENT")
        }
        const handle = yield* sandboxFor(context, executionId, p)
        const tool = yield* tools.get(config.tool)
        const allow = EgressPolicy.implementAllowList(
          tool.egress,
          settings.egress,
          yield* StepEgress.projectAdditions("IMPLEMENT", config.egress?.implement, settings.egress, logs)
        )
        const fix = state.failedVerification
        const promptContext = yield* implementContext(p, fix)
        yield* info(
          `IMPLEMENT: running ${tool.name} for ${task.id}${
            fix === null ? "" : ` with the failure of verification attempt ${promptContext.fix?.attempt ?? "?"}`
          } (egress: ${StepEgress.describeAllowList(allow)})`
        )
        const ran = yield* StepEgress.withEgress(
          handle,
          "IMPLEMENT",
          allow,
          logs,
          tool.run({
            sandbox: handle,
            task: config.verify?.criteria === undefined
              ? task
              : new Task({ ...task, criteria: { ...task.criteria, ...config.verify.criteria } }),
            workspacePath: repoPath,
            env: settings.modelEnv,
            onLine,
            promptContext,
            ...(config.model === undefined ? {} : { model: config.model }),
            ...(config.script === undefined ? {} : { command: config.script })
          })
        )
        const ranArtifact = new OperationArtifact({ ...ran.value, egress: ran.egress })
        // A task that needs no change (the agent succeeded, nothing changed) goes on to VERIFY with an
        // empty artifact and a note, unless onNoChange is "fail" — or this is a fix, which must change something.
        const noChange = Tool.changedNothing(ranArtifact) && (config.onNoChange ?? "complete") === "complete" &&
          fix === null
        const { failureReason: _, ...succeeded } = ranArtifact
        const artifact = noChange
          ? new OperationArtifact({
            ...succeeded,
            success: true,
            note: `${tool.name} changed nothing: the task needed no change (onNoChange: complete); verification decides`
          })
          : ranArtifact
        if (noChange) yield* info(`IMPLEMENT: ${artifact.note ?? ""}`)
        if (!artifact.success) {
          const reason = artifact.failureReason ?? `${tool.name} did not succeed`
          return yield* new PipelineFailure({
            category: "tool",
            message: `${tool.name} failed for task ${task.id}: ${reason}`,
            details: {
              tool: artifact.tool,
              failureReason: reason,
              filesModified: [...artifact.outputs.filesModified],
              linesChanged: artifact.outputs.linesChanged,
              duration: artifact.duration,
              ...(artifact.promptHash === undefined ? {} : { promptHash: artifact.promptHash }),
              egress: Schema.encodeSync(EgressSummary)(ran.egress)
            },
            logs: [...lastLines(artifact.outputs.stdout), ...lastLines(artifact.outputs.stderr)]
          })
        }
        // the tool's artifact holds the change's files and lines: no second diff on the host
        const committed = yield* workspace.commitChanges({ repoPath, branch, baseBranch, message })
        yield* info(
          `IMPLEMENT: ${committed.committed ? "committed" : "nothing new to commit at"} ${
            committed.commit.slice(0, 12)
          } (${artifact.outputs.filesModified.length} files, ${artifact.outputs.linesChanged} lines)`
        )
        // IMPLEMENT completes only once its work is on the remote: a failover after this point
        // finds it there
        yield* publish(repoPath, branch)
        return StepResult.Completed({
          outcome: new ImplementCompleted({ v: 1, at: yield* now, taskId: task.id, artifact, commit: committed.commit })
        })
      })

      const verify = Effect.gen(function*() {
        const p = yield* prepared
        const { branch, config, repoPath, task } = p
        // Resumed after a failed verify (or re-run after a crash): a fix may have been pushed to
        // the task branch or the base branch meanwhile; the task branch must include it before
        // verifying again.
        const attempt = state.cursor?.step === "VERIFY" ? state.cursor.attempt : 1
        yield* ensureTaskBranch(p, "VERIFY")
        if (attempt > 1) {
          yield* pullFix(p, "VERIFY")
          yield* refreshFromBase(p, "VERIFY")
        }
        const criteria = { ...task.criteria, ...config.verify?.criteria }
        // doc.updated and the coverage scope (the touched files) look at the diff
        const diffFiles = (yield* workspace.diffSummary({ repoPath, branch, baseBranch: config.baseBranch }))
          .filesModified
        const handle = yield* sandboxFor(context, executionId, p)
        const allow = yield* EgressPolicy.verifyAllowList(
          repoPath,
          config.baseBranch,
          settings.egress,
          yield* StepEgress.projectAdditions("VERIFY", config.egress?.verify, settings.egress, logs)
        )
        yield* info(`VERIFY: ${task.id} (egress: ${StepEgress.describeAllowList(allow)})`)
        const commands = config.verify?.commands
        // the fix loop's attempt: one more than the last failed verification of this task
        const verifyAttempt = (state.failedVerification?.attempts.at(-1)?.attempt ?? 0) + 1
        const verified = yield* StepEgress.withEgress(
          handle,
          "VERIFY",
          allow,
          logs,
          verifier.verify({
            sandbox: handle,
            task,
            criteria,
            attempt: verifyAttempt,
            ...(commands === undefined ? {} : { commands }),
            diffFiles,
            onLine
          })
        )
        const result = new VerificationResult({ ...verified.value, egress: verified.egress })
        if (!result.success) {
          // The fix loop: a failed verdict goes back to IMPLEMENT with the failure, VERIFY_RETRIES times.
          if (verifyAttempt <= verifier.retries) {
            yield* info(
              `VERIFY: attempt ${verifyAttempt} of ${verifier.retries + 1} failed (${
                verifyFailureSummary(result)
              }); IMPLEMENT runs again with the failure`
            )
            return StepResult.Completed({
              outcome: new VerifyCompleted({ v: 1, at: yield* now, taskId: task.id, result })
            })
          }
          return yield* new PipelineFailure({
            category: "verify",
            message: `Verification failed for task ${task.id}${
              verifyAttempt > 1 ? ` after ${verifyAttempt} attempts` : ""
            }: ${verifyFailureSummary(result)}`,
            details: verifyFailureDetails(result),
            logs: result.failedCommand === undefined ? [] : result.failedCommand.tail.split("\n"),
            attempts: verifyAttempt
          })
        }
        return StepResult.Completed({ outcome: new VerifyCompleted({ v: 1, at: yield* now, taskId: task.id, result }) })
      })

      const merge = Effect.gen(function*() {
        const p = yield* prepared
        const { branch, config, repoPath, task } = p
        yield* ensureTaskBranch(p, "MERGE")
        const result = yield* workspace.merge({ repoPath, branch, baseBranch: config.baseBranch })
        yield* info(
          `MERGE: ${branch} ${result.alreadyMerged ? "already merged into" : "merged into"} ${config.baseBranch}`
        )
        return StepResult.Completed({
          outcome: new MergeCompleted({
            v: 1,
            at: yield* now,
            taskId: task.id,
            mergeCommit: result.mergeCommit,
            alreadyMerged: result.alreadyMerged
          })
        })
      })

      const push = Effect.gen(function*() {
        const p = yield* prepared
        const { branch, config, repoPath, task } = p
        if (yield* ensureTaskBranch(p, "PUSH")) {
          // the merge was made on the runner that died: make it again here (a no-op when it did
          // reach the remote) so that what is pushed holds the task
          const merged = yield* workspace.merge({ repoPath, branch, baseBranch: config.baseBranch })
          yield* info(`PUSH: ${merged.alreadyMerged ? "the remote already holds" : "merged again"} ${branch}`)
        }
        const result = yield* workspace.push({ repoPath, baseBranch: config.baseBranch })
        yield* info(
          `PUSH: ${config.baseBranch} ${result.alreadyPushed ? "already pushed" : "pushed"} at ${
            result.pushedCommit.slice(0, 12)
          }${result.rebased ? " (after a rebase onto the remote)" : ""}`
        )
        return StepResult.Completed({
          outcome: new PushCompleted({
            v: 1,
            at: yield* now,
            taskId: task.id,
            commit: result.pushedCommit,
            alreadyPushed: result.alreadyPushed
          })
        })
      })

      const updateTaskList = Effect.gen(function*() {
        const { config, repoPath, task } = yield* prepared
        if (!(yield* workspacePresent(repoPath))) {
          yield* info("UPDATE_TASKLIST: the workspace is missing on this runner; fetching the repository")
          yield* workspace.sync({ repoUrl: config.repoUrl, project, baseBranch: config.baseBranch })
        }
        let note = ""
        let ticked = ""
        // An injected task is written into the file, ticked, in the commit that ticks it.
        const injection = state.injections.find((i) => i.task.id === task.id)
        // The journaled edits (PUT) go into the same commit; this task's completion wins over its status edit.
        const edits = editsToWrite(state.patches, [...state.completedInExecution, task.id])
        let edited: EditsResult | undefined
        const tick = (source: string): string => {
          const marked = injection === undefined ? markCompleted(source, task.id) : addInjected(source, task, injection)
          switch (marked._tag) {
            case "Updated":
              return marked.source
            case "AlreadyCompleted":
              note = "already ticked in the file"
              return source
            case "NotInFile":
              note = "not in the file: completion kept in the journal"
              return source
            case "NotMarkable":
              note = `not markable: ${marked.reason}`
              return source
          }
        }
        const render = (source: string): string => {
          edited = applyEdits(tick(source), edits)
          ticked = edited.source
          return edited.source
        }
        const result = yield* workspace.markTaskCompleted({
          repoPath,
          baseBranch: config.baseBranch,
          path: config.taskListPath,
          taskId: task.id,
          render
        })
        yield* info(`UPDATE_TASKLIST: ${task.id} ${result.committed ? "ticked and pushed" : note || "unchanged"}`)
        for (const left of edited?.leftOut ?? []) {
          yield* info(`UPDATE_TASKLIST: the edit of ${left.taskId} stays in the journal only: ${left.reason}`)
        }
        // The cached list (tasks, plan, next) must show the tick at once, not after TASKLIST_REFRESH:
        // what was pushed is known here (a fetch only when a rebase may have changed it).
        if (result.committed && !result.rebased) yield* taskLists.remember(config, result.commit, ticked)
        else if (result.committed) yield* Effect.ignore(taskLists.read(config))
        const totalTasks = state.totalTasks
        return StepResult.Completed({
          outcome: new TaskListUpdated({
            v: 1,
            at: yield* now,
            taskId: task.id,
            commit: result.committed ? result.commit : null,
            completedTasks: Math.min(state.completedTasks + 1, totalTasks),
            totalTasks,
            ...(edited === undefined || edited.inFile.length === 0 ? {} : { editsInFile: edited.inFile })
          })
        })
      })

      const steps: Record<Step, Effect.Effect<StepResult, StepFailure>> = {
        SELECT: select,
        PREP: prep,
        IMPLEMENT: implement,
        VERIFY: verify,
        MERGE: merge,
        PUSH: push,
        UPDATE_TASKLIST: updateTaskList
      }
      return steps[step]
    }

    const toExecutionError = (
      step: Step,
      context: StepContext,
      executionId: ExecutionId,
      error: StepFailure,
      attempts: number
    ) =>
      Effect.map(now, (occurredAt) =>
        new ExecutionError({
          errorId: ErrorId.make(crypto.randomUUID()),
          executionId,
          projectId: context.state.projectId,
          taskId: step === "SELECT" ? null : (context.state.currentTask?.id ?? null),
          step,
          category: categoryOf(error),
          message: redact(error.message),
          details: redactDeep(redact, detailsOf(error)),
          logs: (error._tag === "PipelineFailure" ? error.logs : []).map(redact),
          attempts: Math.max(1, attempts, error._tag === "PipelineFailure" ? (error.attempts ?? 0) : 0),
          occurredAt
        }))

    const retrySchedule = Schedule.exponential(settings.retryBase, 2).pipe(
      Schedule.intersect(Schedule.recurs(settings.infraRetries))
    )

    const withLogs = (result: StepResult, logs: ReadonlyArray<LogLine>): StepResult =>
      logs.length === 0 ? result : StepResult.$match(result, {
        Completed: (completed) => StepResult.Completed({ ...completed, logs }),
        Finished: (finished) => StepResult.Finished({ ...finished, logs })
      })

    const run = (step: Step, context: StepContext): Effect.Effect<StepResult, ExecutionError> =>
      Effect.gen(function*() {
        const executionId = context.state.executionId
        if (executionId === null) return yield* Effect.dieMessage(`${step} outside an execution`)
        const logs = yield* LogBatcher.make({ sink: context.log, redact, interval: settings.logInterval })
        let attempts = 0
        const body = stepFor(step, context, executionId, logs)
        return yield* Effect.suspend(() => {
          attempts++
          return body
        }).pipe(
          Effect.tapError((error) =>
            isTransient(error) && attempts <= settings.infraRetries
              ? Effect.zipRight(
                logs.log("warn", `${step}: ${error.message} — retrying (attempt ${attempts + 1})`),
                categoryOf(error) === "infrastructure" ? dropSandbox(context) : Effect.void
              )
              : Effect.void
          ),
          Effect.retry({ schedule: retrySchedule, while: isTransient }),
          Effect.catchAll((error) =>
            Effect.zipRight(
              logs.log("error", `${step} failed: ${error.message}`),
              Effect.flatMap(toExecutionError(step, context, executionId, error, attempts), Effect.fail)
            )
          ),
          // the step's last lines go with its outcome (one journal transaction, not two)
          Effect.flatMap((result) => Effect.map(logs.takeRest, (rest) => withLogs(result, rest)))
        )
      }).pipe(
        Effect.scoped,
        Effect.withSpan(`PipelineStepRunner.${step}`),
        Effect.annotateLogs({ step, taskId: context.state.currentTask?.id ?? "none" })
      )

    return StepRunner.of({ run })
  })

/**
 * The sandbox (SANDBOX…), the tools (aider from AIDER_*, claude-code from CLAUDE_CODE_*, script from
 * SCRIPT_TOOL_*) and the Verifier (VERIFY_*) from the environment. Provide this one value to both the pipeline and
 * `PipelineSingleSteps` (layers are shared by reference): a second docker Sandbox instance would
 * run a second sweeper that does not know the first one's containers.
 */
export const portsLayer: Layer.Layer<Sandbox | Tools | Verifier, ConfigError.ConfigError, Redaction.Redactor> = Layer
  .mergeAll(
    SandboxLayer.layer,
    Tool.layer([AiderTool.makeConfig, ClaudeCodeTool.makeConfig, ScriptTool.makeConfig]),
    VerifierModule.layer
  )

/** The pipeline with explicit settings. */
export const layerWith = (settings: PipelineSettings): Layer.Layer<StepRunner, never, PipelineRequirements> =>
  Layer.effect(StepRunner, make(settings))

/** The pipeline with `PipelineConfig` from the environment (model keys, retries). */
export const layer: Layer.Layer<StepRunner, ConfigError.ConfigError, PipelineRequirements> = Layer.effect(
  StepRunner,
  Effect.flatMap(PipelineConfig, make)
)
