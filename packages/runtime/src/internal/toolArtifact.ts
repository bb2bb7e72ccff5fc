/** Building the Operation Artifact of a tool run (shared by the aider and script tools). */
import { OperationArtifact, OperationOutputs } from "@devteam/domain/Artifacts"
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
    ...(args.failureReason === undefined ? {} : { failureReason: args.failureReason })
  })

/** Keeps only relative paths inside the repository (hostile file lists are data, never options). */
export const safeRelativePaths = (files: ReadonlyArray<string>): ReadonlyArray<string> =>
  files.filter((f) =>
    f.length > 0 && f.length <= 1024 && !f.startsWith("/") && !f.startsWith("-") && !/[\0\n\r]/.test(f) &&
    !f.split("/").includes("..")
  )
