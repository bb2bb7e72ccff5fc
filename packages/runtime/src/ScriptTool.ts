/**
 * The `script` tool: runs a shell command (from the call, else `SCRIPT_TOOL_COMMAND`) in the
 * project's sandbox — deterministic, non-AI changes and tests. It sees the task through
 * `DEVTEAM_TASK_ID`, `DEVTEAM_TASK_TITLE`, `DEVTEAM_TASK_FILES` (newline-separated) and
 * `DEVTEAM_PROMPT_FILE`; it is not given the model key. Success: exit 0 and something changed
 * (unless `allowNoChanges`).
 */
import type { OperationArtifact } from "@devteam/domain/Artifacts"
import { ToolFailed } from "@devteam/domain/Errors"
import { Config, Duration, Effect, Option } from "effect"
import type { ConfigError } from "effect"
import * as GitChanges from "./internal/gitChanges.js"
import { artifact, safeRelativePaths } from "./internal/toolArtifact.js"
import * as Prompt from "./Prompt.js"
import { Redactor } from "./Redaction.js"
import type { Tool, ToolInput } from "./Tool.js"

export const name = "script"

export interface ScriptSettings {
  readonly command: Option.Option<string>
  readonly timeout: Duration.Duration
  /** Whether a run that changes nothing counts as a success. */
  readonly allowNoChanges: boolean
}

export const ScriptConfig: Config.Config<ScriptSettings> = Config.all({
  command: Config.option(Config.string("SCRIPT_TOOL_COMMAND")),
  timeout: Config.duration("SCRIPT_TOOL_TIMEOUT").pipe(Config.withDefault(Duration.minutes(10))),
  allowNoChanges: Config.boolean("SCRIPT_TOOL_ALLOW_NO_CHANGES").pipe(Config.withDefault(false))
})

/** argv: sh -c RUN devteam-script COMMAND — the prompt (from the environment) to its file, then the command. */
const runScript =
  "printf '%s' \"$DEVTEAM_PROMPT\" > \"$DEVTEAM_PROMPT_FILE\" && unset DEVTEAM_PROMPT && exec sh -c \"$1\""

export const make = (settings: ScriptSettings): Effect.Effect<Tool, never, Redactor> =>
  Effect.gen(function*() {
    const redactor = yield* Redactor
    const fail = (message: string) => new ToolFailed({ message: redactor.redact(message), tool: name })

    const run = (input: ToolInput): Effect.Effect<OperationArtifact, ToolFailed> =>
      Effect.gen(function*() {
        const startedAt = Date.now()
        const { sandbox, task } = input
        const command = input.command ?? Option.getOrUndefined(settings.command)
        if (command === undefined || command.trim() === "") {
          return yield* fail("no script command: pass one in the task or project config, or set SCRIPT_TOOL_COMMAND")
        }
        const prompt = Prompt.render(task, input.promptContext ?? input.conventions ?? "")
        const promptFile = `${sandbox.tmpdir}/script-prompt-${crypto.randomUUID()}.md`
        const timeout = input.timeout ?? settings.timeout
        // One sandbox command: write the prompt file, then become the script (each command costs a
        // round trip into the sandbox); the file goes with the changes' command.
        const result = yield* sandbox.exec({
          command: ["sh", "-c", runScript, "devteam-script", command],
          env: {
            DEVTEAM_PROMPT: prompt.text,
            DEVTEAM_TASK_ID: task.id,
            DEVTEAM_TASK_TITLE: task.title,
            DEVTEAM_TASK_FILES: safeRelativePaths(task.files).join("\n"),
            DEVTEAM_PROMPT_FILE: promptFile
          },
          timeout,
          ...(input.onLine ? { onLine: input.onLine } : {})
        })
        const changes = yield* GitChanges.collect(sandbox, name, [promptFile])
        const failureReason = result.timedOut
          ? `script timed out after ${Duration.format(Duration.decode(timeout))}`
          : result.oomKilled
          ? "script was killed: out of memory in the sandbox"
          : result.exitCode !== 0
          ? `script exited with code ${result.exitCode}`
          : changes.filesModified.length === 0 && !settings.allowNoChanges
          ? "script exited 0 but changed nothing in the working tree"
          : undefined
        return artifact({
          tool: name,
          task,
          prompt,
          result,
          changes,
          redact: redactor.redact,
          failureReason,
          startedAt
        })
      }).pipe(
        Effect.catchTag("SandboxUnavailable", (e) => Effect.fail(fail(`sandbox unavailable: ${e.message}`))),
        Effect.withSpan("Tool.run", { attributes: { tool: name } })
      )

    return { name, run }
  })

export const makeConfig: Effect.Effect<Tool, ConfigError.ConfigError, Redactor> = Effect.flatMap(ScriptConfig, make)
