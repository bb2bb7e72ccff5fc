/**
 * The tool port: what IMPLEMENT runs in the project's sandbox to change the code. Tools are
 * plugins behind one interface (`aider` — the default — and `script`); each returns the seed's
 * Operation Artifact. A run that ran but did not do the job (nothing changed, a fatal marker,
 * timeout, non-zero exit) is an artifact with `success: false` and a `failureReason`; `ToolFailed`
 * means the tool could not be run at all (sandbox unavailable, executable missing).
 */
import type { OperationArtifact } from "@devteam/domain/Artifacts"
import type { HostPort } from "@devteam/domain/Egress"
import { ToolFailed } from "@devteam/domain/Errors"
import type { Task } from "@devteam/domain/Task"
import type { Duration, Redacted } from "effect"
import { Context, Effect, Layer } from "effect"
import * as GitChanges from "./internal/gitChanges.js"
import type { PromptContext } from "./Prompt.js"
import type { OutputLine, SandboxHandle } from "./Sandbox.js"

export interface ToolInput {
  readonly sandbox: SandboxHandle
  readonly task: Task
  /** The workspace on the host (the sandbox sees it at `sandbox.workdir`). */
  readonly workspacePath: string
  /** The model key only (e.g. `{ OPENAI_API_KEY }`): never the git token. */
  readonly env: Readonly<Record<string, Redacted.Redacted<string>>>
  /** Every output line (redacted), for execution-log frames. */
  readonly onLine?: (line: OutputLine) => Effect.Effect<void>
  /** Repository conventions for the prompt. */
  readonly conventions?: string
  /** The prompt's context (phase, dependencies, guidance, verification, a fix's failure); wins over `conventions`. */
  readonly promptContext?: PromptContext
  readonly timeout?: Duration.DurationInput
  /** The model the agent uses (the project's setting): overrides the tool's configured default. */
  readonly model?: string
  /** `script` tool: the shell command to run (overrides the configured one). */
  readonly command?: string
}

/**
 * A run that succeeded but changed nothing: the tools word their failure reason
 * "… changed nothing in the working tree" (an error that changed nothing is worded otherwise).
 */
export const changedNothing = (artifact: OperationArtifact): boolean =>
  !artifact.success && artifact.outputs.filesModified.length === 0 &&
  (artifact.failureReason ?? "").endsWith("changed nothing in the working tree")

export interface Tool {
  readonly name: string
  /**
   * The destinations this tool's agent must reach from the sandbox during IMPLEMENT (its model
   * provider's API, from the tool's settings: agent, model, base URL). The pipeline allows these
   * plus the operator's `EGRESS_ALLOW_IMPLEMENT`; none when absent.
   */
  readonly egress?: ReadonlyArray<HostPort>
  readonly run: (input: ToolInput) => Effect.Effect<OperationArtifact, ToolFailed>
}

export type WorkspaceChanges = GitChanges.WorkspaceChanges

/** Diff (against HEAD, untracked files included), files modified and lines changed, read in the sandbox. */
export const changes: (handle: SandboxHandle, tool: string) => Effect.Effect<WorkspaceChanges, ToolFailed> =
  GitChanges.collect

/** The registered tools, by name. */
export class Tools extends Context.Tag("@devteam/runtime/Tools")<Tools, {
  readonly names: ReadonlyArray<string>
  readonly get: (name: string) => Effect.Effect<Tool, ToolFailed>
}>() {}

export const makeTools = (tools: ReadonlyArray<Tool>): Tools["Type"] => {
  const byName = new Map(tools.map((t) => [t.name, t]))
  return {
    names: [...byName.keys()],
    get: (name) => {
      const tool = byName.get(name)
      return tool === undefined
        ? Effect.fail(
          new ToolFailed({
            message: `unknown tool ${JSON.stringify(name)}; known: ${[...byName.keys()].join(", ")}`,
            tool: name
          })
        )
        : Effect.succeed(tool)
    }
  }
}

/** A `Tools` registry from tool constructors (e.g. `[AiderTool.makeConfig, ScriptTool.makeConfig]`). */
export const layer = <E, R>(tools: ReadonlyArray<Effect.Effect<Tool, E, R>>): Layer.Layer<Tools, E, R> =>
  Layer.effect(Tools, Effect.map(Effect.all(tools), makeTools))
