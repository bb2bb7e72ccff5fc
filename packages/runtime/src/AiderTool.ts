/**
 * The `aider` tool, driven headless in the project's sandbox:
 *
 * - the unattended flag set (`--yes-always --no-auto-commits --no-dirty-commits --no-gitignore
 *   --no-pretty --no-stream --no-fancy-input --no-check-update --no-analytics --no-detect-urls
 *   --no-suggest-shell-commands --no-show-model-warnings --no-show-release-notes`), the prompt in `--message-file`, chat and input history files
 *   in the sandbox's scratch directory (outside the repository), `--model` from the project (else AIDER_MODEL),
 *   the task's files as positional arguments after `--`;
 * - the repository cannot redirect it: aider loads `.env` (overriding the environment),
 *   `.aider.conf.yml` and `.aider.model.settings.yml` / `.aider.model.metadata.json` (which can
 *   set an API base) from the repository, so those are moved out of the work tree for the run
 *   and put back afterwards;
 * - aider's own files (`.aider*`: the repo-map cache `.aider.tags.cache.v4/`, histories) are
 *   listed in `.git/info/exclude` (written from the host: the docker sandbox has `.git` read-only),
 *   so they are never counted as a change nor committed;
 * - only the model provider settings are in its environment;
 * - failure is decided from aider's terminal state: the exit status, an error after its last
 *   edit (or with no edit at all), and whether the working tree changed — never from error-looking
 *   text earlier in the run (the model's echoed code, a rate limit aider retried and recovered
 *   from). Aider exits 0 even when every model call failed, so "changed nothing" is a failure.
 */
import type { OperationArtifact } from "@devteam/domain/Artifacts"
import type { HostPort } from "@devteam/domain/Egress"
import { ToolFailed } from "@devteam/domain/Errors"
import { Config, Duration, Effect, Option, Redacted } from "effect"
import type { ConfigError } from "effect"
import { constants as fsConstants } from "node:fs"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import * as GitChanges from "./internal/gitChanges.js"
import { artifact, safeRelativePaths } from "./internal/toolArtifact.js"
import * as ModelHosts from "./ModelHosts.js"
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
  "--no-dirty-commits",
  "--no-gitignore",
  "--no-pretty",
  "--no-stream",
  "--no-fancy-input",
  "--no-check-update",
  "--no-analytics",
  "--no-detect-urls",
  "--no-suggest-shell-commands",
  "--no-show-model-warnings",
  "--no-show-release-notes"
]

/** What aider writes into the repository on its own; excluded through `.git/info/exclude`. */
export const excludePattern = ".aider*"

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

/** A line that says aider will try again (litellm's retry notice): not a terminal error. */
const retryNotice = /retrying in [\d.]+ ?s|Retrying in/i
/** The line aider prints for each edit it applied. */
const editLine = /^Applied edit to /

/**
 * The error aider ended on: a fatal line after its last applied edit (or anywhere, when it applied
 * none) that is not followed by a retry notice. Lines before the last edit are history — the
 * model's echoed code or an error aider recovered from.
 */
export const terminalError = (lines: ReadonlyArray<string>): string | undefined => {
  let lastEdit = -1
  lines.forEach((line, i) => {
    if (editLine.test(line)) lastEdit = i
  })
  let found: string | undefined
  for (let i = lastEdit + 1; i < lines.length; i++) {
    const line = lines[i] ?? ""
    if (retryNotice.test(line)) found = undefined
    else if (fatalMarkers.some((re) => re.test(line))) found = found ?? line.trim().slice(0, 500)
  }
  return found
}

/**
 * Before aider runs: the prompt (from the environment) into its file in the scratch directory.
 * argv: sh -c SCRIPT prepare-aider SCRATCH PROMPT_FILE
 */
const prepareScript = "mkdir -p \"$1\" && printf '%s' \"$DEVTEAM_PROMPT\" > \"$2\""

/**
 * Lists `.aider*` in the work tree's `.git/info/exclude` (once), from the host: the docker sandbox
 * mounts `.git` read-only. Never through a link (`.git`, `info` and the file itself are what they
 * seem, or nothing is written).
 */
const excludeAiderFiles = (workspacePath: string): Effect.Effect<void, string> =>
  Effect.tryPromise({
    try: async () => {
      const info = path.join(workspacePath, ".git", "info")
      if (!(await fs.lstat(path.dirname(info))).isDirectory()) throw new Error(".git is not a directory")
      await fs.mkdir(info, { mode: 0o755 }).catch((e: unknown) => {
        if (!(e instanceof Error && "code" in e && e.code === "EEXIST")) throw e
      })
      if (!(await fs.lstat(info)).isDirectory()) throw new Error(".git/info is not a directory")
      const file = await fs.open(
        path.join(info, "exclude"),
        fsConstants.O_RDWR | fsConstants.O_CREAT | fsConstants.O_APPEND | fsConstants.O_NOFOLLOW,
        0o644
      )
      try {
        const text = await file.readFile("utf8")
        if (!text.split("\n").includes(excludePattern)) {
          await file.write(`${text.length > 0 && !text.endsWith("\n") ? "\n" : ""}${excludePattern}\n`)
        }
      } finally {
        await file.close()
      }
    },
    catch: (e) => e instanceof Error ? e.message : String(e)
  })

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

/** `egress`: the model API hosts IMPLEMENT must reach (`ModelHosts.allProviders`); none when omitted. */
export const make = (
  settings: AiderSettings,
  egress: ReadonlyArray<HostPort> = []
): Effect.Effect<Tool, never, Redactor> =>
  Effect.gen(function*() {
    const redactor = yield* Redactor
    const fail = (message: string) => new ToolFailed({ message: redactor.redact(message), tool: name })

    const run = (input: ToolInput): Effect.Effect<OperationArtifact, ToolFailed> =>
      Effect.gen(function*() {
        const startedAt = Date.now()
        const { sandbox, task } = input
        const prompt = Prompt.render(task, input.promptContext ?? input.conventions ?? "")
        const env: Record<string, string> = {}
        for (const [key, value] of Object.entries(input.env)) {
          if (isSecretName(key)) yield* redactor.register(value)
          env[key] = Redacted.value(value)
        }
        yield* Effect.annotateCurrentSpan({ taskId: task.id, promptHash: prompt.hash })
        const scratch = `${sandbox.tmpdir}/aider-${crypto.randomUUID()}`
        const messageFile = `${scratch}/prompt.md`
        yield* excludeAiderFiles(input.workspacePath).pipe(
          Effect.mapError((message) => fail(`cannot exclude aider's files from git: ${message}`))
        )
        const prepared = yield* sandbox.exec({
          command: ["sh", "-c", prepareScript, "prepare-aider", scratch, messageFile],
          env: { DEVTEAM_PROMPT: prompt.text },
          timeout: "60 seconds"
        })
        if (prepared.exitCode !== 0) return yield* fail(`cannot write the prompt file: ${prepared.stderr}`)
        // Every output line in order (stdout and stderr interleaved as aider printed them).
        const lines: Array<string> = []
        const argv = [
          settings.path,
          ...unattendedFlags,
          "--message-file",
          messageFile,
          "--chat-history-file",
          `${scratch}/chat-history.md`,
          "--input-history-file",
          `${scratch}/input-history`,
          ...Option.match(Option.orElse(Option.fromNullable(input.model), () => settings.model), {
            onNone: () => [],
            onSome: (m) => ["--model", m]
          }),
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
              onLine: (line) => {
                lines.push(line.text)
                return input.onLine === undefined ? Effect.void : input.onLine(line)
              }
            })
          )
        )
        if (result.exitCode === 127) {
          yield* sandbox.exec({ command: ["rm", "-rf", scratch], timeout: "30 seconds" }).pipe(Effect.ignore)
          return yield* fail(
            `aider not found in the sandbox (AIDER_PATH=${settings.path}): ${result.stderr.slice(-500)}`
          )
        }
        // the scratch directory goes with the changes' command
        const changes = yield* GitChanges.collect(sandbox, name, [scratch])
        const fatal = terminalError(lines)
        const timeout = input.timeout ?? settings.timeout
        const failureReason = result.timedOut
          ? `aider timed out after ${Duration.format(Duration.decode(timeout))}`
          : result.oomKilled
          ? "aider was killed: out of memory in the sandbox"
          : result.exitCode !== 0
          ? `aider exited with code ${result.exitCode}${fatal === undefined ? "" : `: ${fatal}`}`
          : changes.filesModified.length === 0
          ? (fatal === undefined
            ? "aider exited 0 but changed nothing in the working tree"
            : `aider changed nothing; it ended on an error: ${fatal}`)
          : fatal !== undefined
          ? `aider ended on an error after its last edit: ${fatal}`
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

    return { name, egress, run }
  })

/** Settings from AIDER_*, egress to the configured providers' hosts (base URLs, else each key's provider). */
export const makeConfig: Effect.Effect<Tool, ConfigError.ConfigError, Redactor> = Effect.flatMap(
  Config.all([AiderConfig, ModelHosts.ProviderSettingsConfig]),
  ([settings, providers]) => make(settings, ModelHosts.allProviders(providers))
)
