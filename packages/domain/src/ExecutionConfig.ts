/**
 * What an execution was started with (`POST /api/devteam/automation/initialize`), as journaled.
 * Holds no secret: credentials come from configuration, never from the journal.
 */
import { Schema } from "effect"
import { parseHostPort } from "./Egress.js"
import { CustomerId, TaskId, UserId } from "./Ids.js"
import { TaskCriteria } from "./Task.js"

export const DEFAULT_BASE_BRANCH = "main"
export const DEFAULT_TASK_LIST_PATH = "docs/DevTeam/tasks_list.md"
export const DEFAULT_TOOL = "aider"

/** A git branch name as given by a caller (checked again by git's own rules before use). */
export const BranchName = Schema.String.pipe(
  Schema.minLength(1),
  Schema.maxLength(200),
  Schema.pattern(/^(?!-)(?!.*\.\.)(?!.*\/\/)[A-Za-z0-9._/-]+(?<![./])$/, {
    message: () => "branch must be a plain git branch name (letters, digits, '.', '_', '/', '-'; no '..')"
  })
)

/** A path inside the repository: relative, no `..` segment, no leading `-`. */
export const RepoPath = Schema.String.pipe(
  Schema.minLength(1),
  Schema.maxLength(500),
  Schema.filter((p) =>
    (!p.startsWith("/") && !p.startsWith("-") && !p.split("/").includes("..") && !p.includes("\\") &&
      ![...p].some((c) => c < " " || c === "\u007f")) ||
    "must be a relative path inside the repository (no '..', no leading '/' or '-', no control characters)"
  )
)

/** The coding agents IMPLEMENT can run: aider (Python), Claude Code (npm), or a shell script. */
export const ToolName = Schema.Literal("aider", "claude-code", "script")
export type ToolName = typeof ToolName.Type

/**
 * The model the coding agent uses (`--model` of aider and Claude Code): a provider's model name
 * (`claude-sonnet-4-5`, `gpt-4.1`, `openrouter/anthropic/claude-sonnet-4`, `bedrock/…:0`).
 */
export const ModelName = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$/, {
    message: () => "a model name: letters, digits and . _ : / @ + - (at most 200 characters)"
  })
)

/** A shell command line run in the sandbox (verify commands, the script tool). */
export const CommandLine = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(4_000))

/**
 * What a task whose agent succeeds without changing anything becomes: it goes on to VERIFY and
 * completes when verification passes (`complete`, the default), or it fails (`fail`).
 */
export const OnNoChange = Schema.Literal("complete", "fail")
export type OnNoChange = typeof OnNoChange.Type

export class VerifyConfig extends Schema.Class<VerifyConfig>("VerifyConfig")({
  commands: Schema.optional(Schema.Array(CommandLine).pipe(Schema.maxItems(20))),
  criteria: Schema.optional(TaskCriteria)
}) {}

export class ResourceConfig extends Schema.Class<ResourceConfig>("ResourceConfig")({
  cpus: Schema.optional(Schema.Number.pipe(Schema.greaterThan(0), Schema.lessThanOrEqualTo(16))),
  memoryMiB: Schema.optional(Schema.Int.pipe(Schema.greaterThanOrEqualTo(128), Schema.lessThanOrEqualTo(65_536)))
}) {}

/** `host` or `host:port` (default port 443). */
export const HostPortText = Schema.String.pipe(
  Schema.maxLength(300),
  Schema.filter((text) => {
    const parsed = parseHostPort(text)
    return typeof parsed === "string" ? parsed : true
  })
)

/**
 * Hosts a project's sandbox may reach besides the defaults of the step (the tool's model API for
 * IMPLEMENT, the package registries for VERIFY); each must be on the operator's
 * EGRESS_PROJECT_ALLOW list.
 */
export class EgressConfig extends Schema.Class<EgressConfig>("EgressConfig")({
  implement: Schema.optional(Schema.Array(HostPortText).pipe(Schema.maxItems(20))),
  verify: Schema.optional(Schema.Array(HostPortText).pipe(Schema.maxItems(20)))
}) {}

export class ExecutionConfig extends Schema.Class<ExecutionConfig>("ExecutionConfig")({
  repoUrl: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(2048)),
  baseBranch: BranchName,
  taskListPath: RepoPath,
  tool: ToolName,
  /** The model the agent (aider, claude-code) uses; its tool's configured default (AIDER_MODEL, CLAUDE_CODE_MODEL) otherwise. */
  model: Schema.optional(ModelName),
  /** Command the `script` tool runs (ignored by aider). */
  script: Schema.optional(CommandLine),
  /** A task whose agent succeeds without changing anything: completes when VERIFY passes (default) or fails. */
  onNoChange: Schema.optional(OnNoChange),
  stopPoint: Schema.optional(TaskId),
  verify: Schema.optional(VerifyConfig),
  resources: Schema.optional(ResourceConfig),
  /** Per-project egress additions (bounded by EGRESS_PROJECT_ALLOW). */
  egress: Schema.optional(EgressConfig),
  userId: Schema.optional(UserId),
  customerId: CustomerId
}) {}
