/** Building the Operation Artifact of a tool run (shared by the tools). */
import { OperationArtifact, OperationOutputs, type TokenUsage } from "@devteam/domain/Artifacts"
import type { Task } from "@devteam/domain/Task"
import type { RenderedPrompt } from "../Prompt.js"
import type { ExecResult } from "../Sandbox.js"
import type { WorkspaceChanges } from "./gitChanges.js"

export const artifact = (args: {
  readonly tool: string
  readonly task: Task
  readonly prompt: RenderedPrompt
  readonly result: ExecResult
  readonly changes: WorkspaceChanges
  readonly redact: (s: string) => string
  readonly failureReason: string | undefined
  readonly startedAt: number
  /** What the agent reported about its run, when it reports it. */
  readonly report?: AgentReport
}): OperationArtifact =>
  new OperationArtifact({
    operation: "implement",
    taskId: args.task.id,
    tool: args.tool,
    success: args.failureReason === undefined,
    duration: (Date.now() - args.startedAt) / 1000,
    outputs: new OperationOutputs({
      diff: args.redact(args.changes.diff),
      stdout: args.result.stdout,
      stderr: args.result.stderr,
      filesModified: [...args.changes.filesModified],
      linesChanged: args.changes.linesChanged
    }),
    promptHash: args.prompt.hash,
    promptTemplateVersion: args.prompt.templateVersion,
    ...(args.failureReason === undefined ? {} : { failureReason: args.failureReason }),
    ...(args.report?.finalMessage === undefined ? {} : { finalMessage: args.redact(args.report.finalMessage) }),
    ...(args.report?.usage === undefined ? {} : { usage: args.report.usage }),
    ...(args.report?.costUsd === undefined ? {} : { costUsd: args.report.costUsd }),
    ...(args.report?.turns === undefined ? {} : { turns: args.report.turns })
  })

export interface AgentReport {
  readonly finalMessage?: string
  readonly usage?: TokenUsage
  readonly costUsd?: number
  readonly turns?: number
}

/** Keeps only relative paths inside the repository (hostile file lists are data, never options). */
export const safeRelativePaths = (files: ReadonlyArray<string>): ReadonlyArray<string> =>
  files.filter((f) =>
    f.length > 0 && f.length <= 1024 && !f.startsWith("/") && !f.startsWith("-") && !/[\0\n\r]/.test(f) &&
    !f.split("/").includes("..")
  )
