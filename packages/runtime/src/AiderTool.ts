/**
 * The `aider` tool, driven headless in the project's sandbox:
 *
 * - the unattended flag set (`--yes-always --no-auto-commits --no-gitignore --no-pretty
 *   --no-stream --no-fancy-input --no-check-update --no-analytics --no-detect-urls
 *   --no-suggest-shell-commands`), the prompt in `--message-file`, chat and input history files
 *   in the sandbox's scratch directory (outside the repository), `--model` from configuration,
 *   the task's files as positional arguments after `--`;
 * - the repository cannot redirect it: aider loads `.env` (overriding the environment),
 *   `.aider.conf.yml` and `.aider.model.settings.yml` / `.aider.model.metadata.json` (which can
 *   set an API base) from the repository, so those are moved out of the work tree for the run
 *   and put back afterwards;
 * - only the model key is in its environment;
 * - success is judged from the working tree (something changed) and fatal markers in the
 *   output, never from the exit code alone (aider exits 0 even when every model call failed).
 */
import type { OperationArtifact } from "@devteam/domain/Artifacts"
import { ToolFailed } from "@devteam/domain/Errors"
import { Config, Duration, Effect, Option, Redacted } from "effect"
import type { ConfigError } from "effect"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import * as GitChanges from "./internal/gitChanges.js"
import { artifact, safeRelativePaths } from "./internal/toolArtifact.js"
import * as Prompt from "./Prompt.js"
import { Redactor } from "./Redaction.js"
import { isSecretName } from "./Sandbox.js"
import type { Tool, ToolInput } from "./Tool.js"

export const name = "aider"

export interface AiderSettings {
  /** `AIDER_PATH`: the executable inside the sandbox. */
  readonly path: string
  /** `AIDER_MODEL`; when unset aider picks its default for the key it finds. */
  readonly model: Option.Option<string>
  /** `AIDER_TIMEOUT`, default 30 minutes. */
  readonly timeout: Duration.Duration
}

export const AiderConfig: Config.Config<AiderSettings> = Config.all({
  path: Config.string("AIDER_PATH").pipe(Config.withDefault("aider")),
  model: Config.option(Config.string("AIDER_MODEL")),
  timeout: Config.duration("AIDER_TIMEOUT").pipe(Config.withDefault(Duration.minutes(30)))
})

/** The flags for unattended use (pipeline.md). */
export const unattendedFlags: ReadonlyArray<string> = [
  "--yes-always",
  "--no-auto-commits",
  "--no-gitignore",
  "--no-pretty",
  "--no-stream",
  "--no-fancy-input",
  "--no-check-update",
  "--no-analytics",
  "--no-detect-urls",
  "--no-suggest-shell-commands"
]

/** Repository files aider would read its settings from; hidden during a run. */
export const repositorySettingsFiles: ReadonlyArray<string> = [
  ".env",
  ".aider.conf.yml",
  ".aider.model.settings.yml",
  ".aider.model.metadata.json"
]

/** Output lines that mean the run failed although aider exits 0. */
export const fatalMarkers: ReadonlyArray<RegExp> = [
  /litellm\.\w*(?:Error|Exception)/,
  /\b(?:AuthenticationError|PermissionDeniedError|NotFoundError|RateLimitError|APIConnectionError|ServiceUnavailableError|ContextWindowExceededError|BadRequestError)\b/,
  /The API provider is not able to authenticate you/i,
  /Unknown model|Model .* not found|LLM Provider NOT provided/i,
  /Traceback \(most recent call last\)/,
  /^Error: /m
]

export const findFatal = (text: string): string | undefined => {
  for (const line of text.split("\n")) {
    if (fatalMarkers.some((re) => re.test(line))) return line.trim().slice(0, 500)
  }
  return undefined
}

/** Moves the repository's aider settings out of the work tree; puts them back when the scope closes. */
const hideRepositorySettings = (workspacePath: string) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const stash = await fs.mkdtemp(path.join(os.tmpdir(), "devteam-aider-hidden-"))
      const moved: Array<string> = []
      for (const file of repositorySettingsFiles) {
        const exists = await fs.lstat(path.join(workspacePath, file)).then(() => true, () => false)
        if (exists) {
          await fs.rename(path.join(workspacePath, file), path.join(stash, file))
          moved.push(file)
        }
      }
      return { stash, moved }
    }),
    ({ moved, stash }) =>
      Effect.promise(async () => {
        for (const file of moved) {
          await fs.rm(path.join(workspacePath, file), { recursive: true, force: true })
          await fs.rename(path.join(stash, file), path.join(workspacePath, file))
        }
        await fs.rm(stash, { recursive: true, force: true })
      })
  )

export const make = (settings: AiderSettings): Effect.Effect<Tool, never, Redactor> =>
  Effect.gen(function*() {
    const redactor = yield* Redactor
    const fail = (message: string) => new ToolFailed({ message: redactor.redact(message), tool: name })

    const run = (input: ToolInput): Effect.Effect<OperationArtifact, ToolFailed> =>
      Effect.gen(function*() {
        const startedAt = Date.now()
        const { sandbox, task } = input
        const prompt = Prompt.render(task, input.conventions ?? "")
        const env: Record<string, string> = {}
        for (const [key, value] of Object.entries(input.env)) {
          if (isSecretName(key)) yield* redactor.register(value)
          env[key] = Redacted.value(value)
        }
        yield* Effect.annotateCurrentSpan({ taskId: task.id, promptHash: prompt.hash })
        const scratch = `${sandbox.tmpdir}/aider-${crypto.randomUUID()}`
        const messageFile = `${scratch}/prompt.md`
        const written = yield* sandbox.exec({
          command: [
            "sh",
            "-c",
            "mkdir -p \"$1\" && printf '%s' \"$DEVTEAM_PROMPT\" > \"$2\"",
            "write-prompt",
            scratch,
            messageFile
          ],
          env: { DEVTEAM_PROMPT: prompt.text },
          timeout: "60 seconds"
        })
        if (written.exitCode !== 0) return yield* fail(`cannot write the prompt file: ${written.stderr}`)
        const argv = [
          settings.path,
          ...unattendedFlags,
          "--message-file",
          messageFile,
          "--chat-history-file",
          `${scratch}/chat-history.md`,
          "--input-history-file",
          `${scratch}/input-history`,
          ...Option.match(settings.model, { onNone: () => [], onSome: (m) => ["--model", m] }),
          "--",
          ...safeRelativePaths(task.files)
        ]
        const result = yield* Effect.scoped(
          Effect.zipRight(
            hideRepositorySettings(input.workspacePath),
            sandbox.exec({
              command: argv,
              env,
              timeout: input.timeout ?? settings.timeout,
              ...(input.onLine ? { onLine: input.onLine } : {})
            })
          )
        )
        yield* sandbox.exec({ command: ["rm", "-rf", scratch], timeout: "30 seconds" }).pipe(Effect.ignore)
        if (result.exitCode === 127) {
          return yield* fail(
            `aider not found in the sandbox (AIDER_PATH=${settings.path}): ${result.stderr.slice(-500)}`
          )
        }
        const changes = yield* GitChanges.collect(sandbox, name)
        const fatal = findFatal(`${result.stdout}\n${result.stderr}`)
        const failureReason = result.timedOut
          ? `aider timed out after ${Duration.format(Duration.decode(input.timeout ?? settings.timeout))}`
          : result.oomKilled
          ? "aider was killed: out of memory in the sandbox"
          : fatal !== undefined
          ? `aider reported a fatal error: ${fatal}`
          : result.exitCode !== 0
          ? `aider exited with code ${result.exitCode}`
          : changes.filesModified.length === 0
          ? "aider exited 0 but changed nothing in the working tree"
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

export const makeConfig: Effect.Effect<Tool, ConfigError.ConfigError, Redactor> = Effect.flatMap(AiderConfig, make)
