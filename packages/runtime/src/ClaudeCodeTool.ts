/**
 * The `claude-code` tool: Anthropic's Claude Code CLI (`@anthropic-ai/claude-code`, npm), driven
 * headless in its documented non-interactive mode in the project's sandbox:
 *
 * - `claude -p` with the prompt on stdin, `--output-format stream-json --verbose` (one JSON event
 *   per line: the execution log shows a readable line per message and tool call; the last event
 *   is the `result` with `is_error`, `subtype`, usage and `total_cost_usd`), `--max-turns`,
 *   `--model` from the project (else CLAUDE_CODE_MODEL), `--permission-mode acceptEdits` with `--tools`/`--allowedTools`
 *   set to a fixed built-in set (no web tools, no sub-agents), so it edits files without prompting;
 * - the repository cannot redirect it: `--setting-sources user` (the repository's
 *   `.claude/settings*.json` could set the API base, an `apiKeyHelper` or hooks) and
 *   `--strict-mcp-config` (no `.mcp.json` servers); its HOME and `CLAUDE_CONFIG_DIR` are a scratch
 *   directory outside the repository, removed afterwards;
 * - traffic other than the model API is switched off: `CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC`,
 *   `DISABLE_AUTOUPDATER`, `DISABLE_TELEMETRY`, `DISABLE_ERROR_REPORTING`, and a seeded "metrics
 *   disabled" status in its config (API-key users otherwise get a metrics opt-out check sent to
 *   api.anthropic.com whatever the base URL — seen on the wire with 2.1.112);
 * - success is decided from its terminal state: the `result` event (`is_error`, `subtype`), the
 *   exit status, and whether the working tree changed — never from the model's text.
 */
import type { OperationArtifact } from "@devteam/domain/Artifacts"
import { TokenUsage } from "@devteam/domain/Artifacts"
import type { HostPort } from "@devteam/domain/Egress"
import { ToolFailed } from "@devteam/domain/Errors"
import { Config, Duration, Effect, Option, Redacted, Schema } from "effect"
import type { ConfigError } from "effect"
import * as GitChanges from "./internal/gitChanges.js"
import { type AgentReport, artifact } from "./internal/toolArtifact.js"
import * as ModelHosts from "./ModelHosts.js"
import * as Prompt from "./Prompt.js"
import { Redactor } from "./Redaction.js"
import { isSecretName, type OutputLine } from "./Sandbox.js"
import type { Tool, ToolInput } from "./Tool.js"

export const name = "claude-code"

/** The npm package and the version this adapter was built and tested against. */
export const npmPackage = "@anthropic-ai/claude-code"
export const testedVersion = "2.1.112"

export interface ClaudeCodeSettings {
  /** `CLAUDE_CODE_PATH`: the executable inside the sandbox. */
  readonly path: string
  /** `CLAUDE_CODE_MODEL`; when unset Claude Code picks its default. */
  readonly model: Option.Option<string>
  /** `CLAUDE_CODE_TIMEOUT`, default 30 minutes. */
  readonly timeout: Duration.Duration
  /** `CLAUDE_CODE_MAX_TURNS`, default 50. */
  readonly maxTurns: number
  /** `CLAUDE_CODE_TOOLS`: the built-in tools it may use, all allowed without prompting. */
  readonly tools: ReadonlyArray<string>
}

export const defaultTools: ReadonlyArray<string> = [
  "Read",
  "Write",
  "Edit",
  "NotebookEdit",
  "Glob",
  "Grep",
  "Bash",
  "TodoWrite"
]

export const ClaudeCodeConfig: Config.Config<ClaudeCodeSettings> = Config.all({
  path: Config.string("CLAUDE_CODE_PATH").pipe(
    Config.withDefault("claude"),
    Config.withDescription("the claude executable inside the sandbox")
  ),
  model: Config.option(Config.string("CLAUDE_CODE_MODEL").pipe(Config.withDescription("--model for Claude Code"))),
  timeout: Config.duration("CLAUDE_CODE_TIMEOUT").pipe(Config.withDefault(Duration.minutes(30))),
  maxTurns: Config.integer("CLAUDE_CODE_MAX_TURNS").pipe(
    Config.withDefault(50),
    Config.validate({
      message: "CLAUDE_CODE_MAX_TURNS must be between 1 and 1000",
      validation: (n) => n >= 1 && n <= 1000
    })
  ),
  tools: Config.array(Config.string(), "CLAUDE_CODE_TOOLS").pipe(
    Config.withDefault(defaultTools),
    Config.validate({
      message: "CLAUDE_CODE_TOOLS must be a comma-separated list of tool names (letters only)",
      validation: (tools) => tools.length > 0 && tools.every((t) => /^[A-Za-z]{1,64}$/.test(t))
    })
  )
})

/** Environment that switches off everything but the model API (and keeps it off the repository). */
export const quietEnv: Readonly<Record<string, string>> = {
  CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
  DISABLE_AUTOUPDATER: "1",
  DISABLE_TELEMETRY: "1",
  DISABLE_ERROR_REPORTING: "1",
  DISABLE_BUG_COMMAND: "1",
  CLAUDE_CODE_DISABLE_FEEDBACK_SURVEY: "1"
}

const systemPromptAddition =
  "You run unattended in a CI pipeline: nobody can answer questions. Make the change in the " +
  "working tree with your file tools. Do not run git commands that change history (no commit, no branch, no " +
  "reset): the pipeline commits your work. End with a short summary of what you changed."

// -- the stream-json events we read -----------------------------------------------------------

const Usage = Schema.Struct({
  input_tokens: Schema.Number,
  output_tokens: Schema.Number,
  cache_read_input_tokens: Schema.optional(Schema.Number),
  cache_creation_input_tokens: Schema.optional(Schema.Number)
})

const ResultEvent = Schema.Struct({
  type: Schema.Literal("result"),
  subtype: Schema.String,
  is_error: Schema.Boolean,
  result: Schema.optional(Schema.String),
  num_turns: Schema.optional(Schema.Number),
  total_cost_usd: Schema.optional(Schema.Number),
  api_error_status: Schema.optional(Schema.NullOr(Schema.Number)),
  terminal_reason: Schema.optional(Schema.String),
  usage: Schema.optional(Usage)
})
type ResultEvent = typeof ResultEvent.Type

const ContentBlock = Schema.Union(
  Schema.Struct({ type: Schema.Literal("text"), text: Schema.String }),
  Schema.Struct({
    type: Schema.Literal("tool_use"),
    name: Schema.String,
    input: Schema.Record({ key: Schema.String, value: Schema.Unknown })
  }),
  Schema.Struct({
    type: Schema.Literal("tool_result"),
    is_error: Schema.optional(Schema.Boolean),
    content: Schema.optional(Schema.Unknown)
  }),
  Schema.Struct({ type: Schema.String })
)

const MessageEvent = Schema.Struct({
  type: Schema.Literal("assistant", "user"),
  message: Schema.Struct({ content: Schema.Union(Schema.String, Schema.Array(ContentBlock)) })
})

const InitEvent = Schema.Struct({
  type: Schema.Literal("system"),
  subtype: Schema.Literal("init"),
  model: Schema.optional(Schema.String),
  claude_code_version: Schema.optional(Schema.String)
})

const RetryEvent = Schema.Struct({
  type: Schema.Literal("system"),
  subtype: Schema.Literal("api_retry"),
  attempt: Schema.Number,
  max_retries: Schema.Number,
  retry_delay_ms: Schema.Number,
  error_status: Schema.optional(Schema.NullOr(Schema.Number)),
  error: Schema.optional(Schema.String)
})

const Event = Schema.parseJson(Schema.Union(ResultEvent, MessageEvent, InitEvent, RetryEvent))
const decodeEvent = Schema.decodeUnknownOption(Event)
const decodeResult = Schema.decodeUnknownOption(Schema.parseJson(ResultEvent))

const oneLine = (s: string, max = 300): string => {
  const flat = s.replace(/\s+/g, " ").trim()
  return flat.length > max ? `${flat.slice(0, max)}…` : flat
}

const toolSummary = (toolName: string, input: Readonly<Record<string, unknown>>): string => {
  const pick = ["file_path", "notebook_path", "command", "pattern", "path"].find((k) => typeof input[k] === "string")
  return pick === undefined ? `tool ${toolName}` : `tool ${toolName} ${oneLine(String(input[pick]), 200)}`
}

/** Readable log lines for one stream-json line (the line itself when it is not an event we know). */
export const summarise = (line: string): ReadonlyArray<string> => {
  const event = decodeEvent(line)
  if (Option.isNone(event)) return line.trim() === "" ? [] : [oneLine(line, 500)]
  const e = event.value
  switch (e.type) {
    case "system":
      return "attempt" in e
        ? [
          `model API retry ${e.attempt}/${e.max_retries} in ${Math.round(e.retry_delay_ms)} ms (${
            e.error_status == null ? "" : `HTTP ${e.error_status} `
          }${e.error ?? "error"})`
        ]
        : [`claude-code ${e.claude_code_version ?? ""} started (model ${e.model ?? "default"})`]
    case "result":
      return [
        `result: ${e.is_error ? "error" : "ok"} (${e.subtype}${
          e.api_error_status == null ? "" : `, HTTP ${e.api_error_status}`
        }, ${e.num_turns ?? 0} turns${e.total_cost_usd === undefined ? "" : `, $${e.total_cost_usd.toFixed(4)}`}): ${
          oneLine(e.result ?? "")
        }`
      ]
    default: {
      if (typeof e.message.content === "string") {
        return e.type === "assistant"
          ? [`claude: ${oneLine(e.message.content)}`]
          : []
      }
      const out: Array<string> = []
      for (const block of e.message.content) {
        if ("text" in block && e.type === "assistant") out.push(`claude: ${oneLine(block.text)}`)
        else if ("name" in block && "input" in block) out.push(toolSummary(block.name, block.input))
        else if (block.type === "tool_result" && "is_error" in block && block.is_error === true) {
          out.push(
            `tool error: ${oneLine(typeof block.content === "string" ? block.content : JSON.stringify(block.content))}`
          )
        }
      }
      return out
    }
  }
}

/** The final `result` event of a run's stdout, if it printed one. */
export const finalResult = (stdout: string): Option.Option<ResultEvent> => {
  const lines = stdout.split("\n")
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i] ?? ""
    if (!line.includes("\"type\":\"result\"")) continue
    const result = decodeResult(line)
    if (Option.isSome(result)) return result
  }
  return Option.none()
}

const reportOf = (result: ResultEvent): AgentReport => ({
  ...(result.result === undefined ? {} : { finalMessage: result.result }),
  ...(result.usage === undefined ? {} : {
    usage: new TokenUsage({
      inputTokens: Math.round(result.usage.input_tokens),
      outputTokens: Math.round(result.usage.output_tokens),
      ...(result.usage.cache_read_input_tokens === undefined
        ? {}
        : { cacheReadInputTokens: Math.round(result.usage.cache_read_input_tokens) }),
      ...(result.usage.cache_creation_input_tokens === undefined
        ? {}
        : { cacheCreationInputTokens: Math.round(result.usage.cache_creation_input_tokens) })
    })
  }),
  ...(result.total_cost_usd === undefined ? {} : { costUsd: result.total_cost_usd }),
  ...(result.num_turns === undefined ? {} : { turns: Math.round(result.num_turns) })
})

/** Why a run failed, from its terminal state; `undefined` when it succeeded. */
export const failureOf = (args: {
  readonly exitCode: number
  readonly timedOut: boolean
  readonly oomKilled: boolean
  readonly timeout: Duration.DurationInput
  readonly result: Option.Option<ResultEvent>
  readonly stderr: string
  readonly filesModified: number
}): string | undefined => {
  if (args.timedOut) return `claude-code timed out after ${Duration.format(Duration.decode(args.timeout))}`
  if (args.oomKilled) return "claude-code was killed: out of memory in the sandbox"
  if (Option.isNone(args.result)) {
    const tail = oneLine(args.stderr.slice(-500), 500)
    return `claude-code exited with code ${args.exitCode} without a result${tail === "" ? "" : `: ${tail}`}`
  }
  const r = args.result.value
  if (r.is_error || r.subtype !== "success") {
    const status = r.api_error_status == null ? "" : `, model API status ${r.api_error_status}`
    return `claude-code ended with an error (${r.subtype}${status}): ${
      oneLine(r.result ?? r.terminal_reason ?? "", 500)
    }`
  }
  if (args.exitCode !== 0) return `claude-code exited with code ${args.exitCode}`
  if (args.filesModified === 0) return "claude-code finished but changed nothing in the working tree"
  return undefined
}

const writeFailed = 125
const writeFailedText = "cannot write the prompt file"

/**
 * argv: sh -c RUN claude-code CLAUDE ARGS… — the prompt and the config (from the environment)
 * into their files, then claude with the prompt on its input and neither variable in its environment.
 */
const runClaude = [
  "{ mkdir -p \"$CLAUDE_CONFIG_DIR\" && printf '%s' \"$DEVTEAM_PROMPT\" > \"$DEVTEAM_PROMPT_FILE\" &&",
  `  printf '%s' "$DEVTEAM_CONFIG" > "$CLAUDE_CONFIG_DIR/.claude.json"; } || { echo "${writeFailedText}" >&2; exit ${writeFailed}; }`,
  "unset DEVTEAM_PROMPT DEVTEAM_CONFIG",
  "exec \"$@\" < \"$DEVTEAM_PROMPT_FILE\""
].join("\n")

/** `egress`: the model API hosts IMPLEMENT must reach (`ModelHosts.anthropic`); none when omitted. */
export const make = (
  settings: ClaudeCodeSettings,
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
        const scratch = `${sandbox.tmpdir}/claude-code-${crypto.randomUUID()}`
        const home = `${scratch}/home`
        const configDir = `${home}/.claude`
        const promptFile = `${scratch}/prompt.md`
        // A fresh metrics status in its config: no opt-out check to the vendor's host (see above).
        const config = JSON.stringify({ metricsStatusCache: { enabled: false, timestamp: Date.now() } })
        const tools = settings.tools.join(",")
        const argv = [
          settings.path,
          "-p",
          "--output-format",
          "stream-json",
          "--verbose",
          "--max-turns",
          String(settings.maxTurns),
          "--permission-mode",
          "acceptEdits",
          "--tools",
          tools,
          "--allowedTools",
          tools,
          "--setting-sources",
          "user",
          "--strict-mcp-config",
          "--no-session-persistence",
          "--append-system-prompt",
          systemPromptAddition,
          ...Option.match(Option.orElse(Option.fromNullable(input.model), () => settings.model), {
            onNone: () => [],
            onSome: (m) => ["--model", m]
          })
        ]
        const transcript: Array<string> = []
        const onLine = (line: OutputLine): Effect.Effect<void> => {
          const lines = line.stream === "stdout" ? summarise(line.text) : [line.text]
          return Effect.forEach(lines, (text) => {
            if (line.stream === "stdout") transcript.push(text)
            return input.onLine === undefined ? Effect.void : input.onLine({ stream: line.stream, text })
          }, { discard: true })
        }
        const timeout = input.timeout ?? settings.timeout
        // One sandbox command (each costs a round trip): the prompt and the config into the
        // scratch directory, then claude reading the prompt; the scratch goes with the changes' command.
        const result = yield* sandbox.exec({
          command: ["sh", "-c", runClaude, "claude-code", ...argv],
          env: {
            ...env,
            ...quietEnv,
            HOME: home,
            CLAUDE_CONFIG_DIR: configDir,
            XDG_CONFIG_HOME: `${home}/.config`,
            XDG_CACHE_HOME: `${home}/.cache`,
            DEVTEAM_PROMPT_FILE: promptFile,
            DEVTEAM_PROMPT: prompt.text,
            DEVTEAM_CONFIG: config
          },
          timeout,
          onLine
        })
        if (result.exitCode === writeFailed && result.stderr.includes(writeFailedText)) {
          yield* sandbox.exec({ command: ["rm", "-rf", scratch], timeout: "30 seconds" }).pipe(Effect.ignore)
          return yield* fail(`${writeFailedText}: ${result.stderr.slice(-500)}`)
        }
        if (result.exitCode === 127) {
          yield* sandbox.exec({ command: ["rm", "-rf", scratch], timeout: "30 seconds" }).pipe(Effect.ignore)
          return yield* fail(
            `claude not found in the sandbox (CLAUDE_CODE_PATH=${settings.path}): ${result.stderr.slice(-500)}`
          )
        }
        const changes = yield* GitChanges.collect(sandbox, name, [scratch])
        const final = finalResult(result.stdout)
        const failureReason = failureOf({
          exitCode: result.exitCode,
          timedOut: result.timedOut,
          oomKilled: result.oomKilled,
          timeout,
          result: final,
          stderr: result.stderr,
          filesModified: changes.filesModified.length
        })
        return artifact({
          tool: name,
          task,
          prompt,
          // The readable transcript, not the raw events (they repeat every file written).
          result: { ...result, stdout: transcript.filter((_, i) => i >= transcript.length - 2000).join("\n") },
          changes,
          redact: redactor.redact,
          failureReason,
          startedAt,
          ...(Option.isSome(final) ? { report: reportOf(final.value) } : {})
        })
      }).pipe(
        Effect.catchTag("SandboxUnavailable", (e) => Effect.fail(fail(`sandbox unavailable: ${e.message}`))),
        Effect.withSpan("Tool.run", { attributes: { tool: name } })
      )

    return { name, egress, run }
  })

/** Settings from CLAUDE_CODE_*, egress to `ANTHROPIC_BASE_URL`'s host (else api.anthropic.com:443). */
export const makeConfig: Effect.Effect<Tool, ConfigError.ConfigError, Redactor> = Effect.flatMap(
  Config.all([ClaudeCodeConfig, ModelHosts.ProviderSettingsConfig]),
  ([settings, providers]) => make(settings, ModelHosts.anthropic(providers))
)
