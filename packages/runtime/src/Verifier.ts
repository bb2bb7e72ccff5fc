/**
 * VERIFY: in the project's sandbox, the project's verify commands (default `npm ci` then
 * `npm run build --if-present` when a package.json exists), then each machine-checked criterion
 * the task asks for:
 *
 * - `test.coverage: "≥80%"` — runs the test command (default `npm test`) and reads the total line
 *   coverage from `coverage/coverage-summary.json` (istanbul's json-summary, written by
 *   c8/nyc/jest/vitest) or else from an "all files | <pct>" row of the output (istanbul's text
 *   table, node's `--experimental-test-coverage`);
 * - `type.strict: "0 errors"` — counts `error TS####` in the output of `tsc --noEmit`;
 * - `doc.updated: "task_outcomes.md"` — the task's diff touches that doc.
 *
 * Free-text criteria (`acceptance.N`) are not machine-checked here. The whole verify is retried
 * up to 2 times on failure, each attempt's (redacted) log kept. The commands run code from the
 * customer's repository: their environment holds no git token and no model key — only CI and npm
 * settings (audit, fund and update checks off).
 */
import { CriterionResult, VerificationArtifacts, VerificationResult, VerifyAttempt } from "@devteam/domain/Artifacts"
import type { SandboxUnavailable } from "@devteam/domain/Errors"
import type { Task, TaskCriteria } from "@devteam/domain/Task"
import { Config, Context, Duration, Effect, Layer, Option, Schema } from "effect"
import type { ConfigError } from "effect"
import { Redactor } from "./Redaction.js"
import type { ExecResult, OutputLine, SandboxHandle } from "./Sandbox.js"

export interface VerifyOptions {
  readonly sandbox: SandboxHandle
  readonly task: Task
  /** Default: the task's criteria. */
  readonly criteria?: TaskCriteria
  /** Shell commands; default `npm ci` + `npm run build --if-present` when package.json exists, else none. */
  readonly commands?: ReadonlyArray<string>
  /** Files the task's diff touched (for `doc.updated`). */
  readonly diffFiles: ReadonlyArray<string>
  /** For `test.coverage`; default `npm test`. */
  readonly testCommand?: string
  /** Workspace-relative path of the istanbul json-summary; default `coverage/coverage-summary.json`. */
  readonly coverageSummary?: string
  /** For `type.strict`; default `npx --no-install tsc --noEmit`. */
  readonly typecheckCommand?: string
  readonly onLine?: (line: OutputLine) => Effect.Effect<void>
  /** Per command; default `VERIFY_COMMAND_TIMEOUT`. */
  readonly timeout?: Duration.DurationInput
  /** Retries of the whole verify after a failed attempt; default `VERIFY_RETRIES` (2). */
  readonly retries?: number
}

export interface VerifierSettings {
  readonly commandTimeout: Duration.Duration
  readonly retries: number
}

export const VerifierConfig: Config.Config<VerifierSettings> = Config.all({
  commandTimeout: Config.duration("VERIFY_COMMAND_TIMEOUT").pipe(Config.withDefault(Duration.minutes(10))),
  retries: Config.integer("VERIFY_RETRIES").pipe(
    Config.withDefault(2),
    Config.validate({ message: "VERIFY_RETRIES must be between 0 and 5", validation: (n) => n >= 0 && n <= 5 })
  )
})

export class Verifier extends Context.Tag("@devteam/runtime/Verifier")<Verifier, {
  readonly verify: (options: VerifyOptions) => Effect.Effect<VerificationResult, SandboxUnavailable>
}>() {}

/** The environment of every verify command: no secrets, offline-friendly npm. */
export const verifyEnv: Readonly<Record<string, string>> = {
  CI: "true",
  npm_config_audit: "false",
  npm_config_fund: "false",
  npm_config_update_notifier: "false",
  npm_config_progress: "false"
}

const CoverageSummary = Schema.Struct({
  total: Schema.Struct({ lines: Schema.Struct({ pct: Schema.Union(Schema.Number, Schema.Literal("Unknown")) }) })
})
const decodeSummary = Schema.decodeUnknownOption(Schema.parseJson(CoverageSummary))

/** The first number of a criterion value (`"≥80%"` → 80, `"0 errors"` → 0). */
export const parseNumber = (value: string): number | undefined => {
  const m = /(\d+(?:\.\d+)?)/.exec(value)
  return m === null ? undefined : Number(m[1])
}

/** Total line coverage from a json-summary text or an "all files | pct" table row. */
export const parseCoverage = (summary: string | undefined, output: string): number | undefined => {
  if (summary !== undefined) {
    const decoded = decodeSummary(summary)
    if (Option.isSome(decoded) && typeof decoded.value.total.lines.pct === "number") {
      return decoded.value.total.lines.pct
    }
  }
  const row = /all files\s*\|\s*(\d+(?:\.\d+)?)/i.exec(output)
  return row === null ? undefined : Number(row[1])
}

export const countTypeErrors = (output: string): number => (output.match(/error TS\d+/g) ?? []).length

const shellQuote = (s: string) => `'${s.replace(/'/g, "'\\''")}'`

const transcript = (command: string, r: ExecResult): string =>
  [
    `$ ${command}`,
    r.stdout,
    r.stderr,
    r.timedOut ? "[timed out]" : r.oomKilled ? "[killed: out of memory]" : `[exit ${r.exitCode}]`
  ].filter((s) => s !== "").join("\n")

export const make = (settings: VerifierSettings): Effect.Effect<Verifier["Type"], never, Redactor> =>
  Effect.gen(function*() {
    const redactor = yield* Redactor

    const verify = Effect.fn("Verifier.verify")(function*(options: VerifyOptions) {
      const { sandbox, task } = options
      yield* Effect.annotateCurrentSpan({ taskId: task.id })
      const criteria = options.criteria ?? task.criteria
      const timeout = options.timeout ?? settings.commandTimeout
      const run = (command: string) =>
        sandbox.exec({
          command: ["sh", "-c", command],
          env: verifyEnv,
          timeout,
          ...(options.onLine ? { onLine: options.onLine } : {})
        })
      const quiet = (command: ReadonlyArray<string>) => sandbox.exec({ command, env: verifyEnv, timeout: "60 seconds" })

      const commands = options.commands ?? ((yield* quiet(["test", "-f", "package.json"])).exitCode === 0
        ? ["npm ci", "npm run build --if-present"]
        : [])

      const attemptOnce = (attempt: number) =>
        Effect.gen(function*() {
          const startedAt = Date.now()
          const log: Array<string> = []
          const buildLog: Array<string> = []
          let buildOk = true
          for (const command of commands) {
            const r = yield* run(command)
            const t = transcript(command, r)
            log.push(t)
            buildLog.push(t)
            if (r.exitCode !== 0 || r.timedOut) {
              buildOk = false
              break
            }
          }
          const results: Record<string, CriterionResult> = {}
          let testOutput: string | undefined
          let coverageReport: string | undefined
          let typeCheckOutput: string | undefined
          const notRun = (required: string) =>
            new CriterionResult({ passed: false, actual: "not run: the build failed", required })

          for (const key of Object.keys(criteria).sort()) {
            const required = criteria[key] ?? ""
            if (key === "test.coverage") {
              if (!buildOk) {
                results[key] = notRun(required)
                continue
              }
              const summaryPath = options.coverageSummary ?? "coverage/coverage-summary.json"
              const testCommand = options.testCommand ?? "npm test"
              yield* quiet(["rm", "-f", summaryPath])
              const r = yield* run(testCommand)
              const t = transcript(testCommand, r)
              log.push(t)
              testOutput = t
              const summary = yield* quiet(["cat", summaryPath])
              const pct = parseCoverage(summary.exitCode === 0 ? summary.stdout : undefined, `${r.stdout}\n${r.stderr}`)
              coverageReport = summary.exitCode === 0
                ? summary.stdout
                : `${r.stdout}\n${r.stderr}`.split("\n").filter((l) => l.includes("|")).join("\n")
              const threshold = parseNumber(required) ?? 0
              results[key] = new CriterionResult({
                passed: r.exitCode === 0 && pct !== undefined && pct >= threshold,
                actual: pct === undefined
                  ? `no coverage summary (tests exited ${r.exitCode})`
                  : r.exitCode !== 0
                  ? `${pct}% (tests failed: exit ${r.exitCode})`
                  : `${pct}%`,
                required
              })
            } else if (key === "type.strict") {
              if (!buildOk) {
                results[key] = notRun(required)
                continue
              }
              const typecheckCommand = options.typecheckCommand ?? "npx --no-install tsc --noEmit"
              const r = yield* run(typecheckCommand)
              const t = transcript(typecheckCommand, r)
              log.push(t)
              typeCheckOutput = t
              const errors = countTypeErrors(`${r.stdout}\n${r.stderr}`)
              const allowed = parseNumber(required) ?? 0
              const ran = r.exitCode === 0 || errors > 0
              results[key] = new CriterionResult({
                passed: ran && errors <= allowed,
                actual: ran ? `${errors} error${errors === 1 ? "" : "s"}` : `tsc did not run (exit ${r.exitCode})`,
                required
              })
            } else if (key === "doc.updated") {
              const docs = required.split(",").map((d) => d.trim().replace(/^\.?\//, "")).filter((d) => d !== "")
              const touched = options.diffFiles.filter((f) => docs.some((d) => f === d || f.endsWith(`/${d}`)))
              results[key] = new CriterionResult({
                passed: docs.length > 0 && touched.length > 0,
                required,
                files: touched
              })
              log.push(
                `doc.updated ${shellQuote(required)}: ${touched.length > 0 ? touched.join(", ") : "not in the diff"}`
              )
            }
          }
          const success = buildOk && Object.values(results).every((r) => r.passed)
          return {
            attempt: new VerifyAttempt({
              attempt,
              success,
              log: redactor.redact(log.join("\n\n")),
              duration: (Date.now() - startedAt) / 1000
            }),
            results,
            artifacts: new VerificationArtifacts({
              buildOutput: redactor.redact(buildLog.join("\n\n")),
              ...(testOutput === undefined ? {} : { testOutput: redactor.redact(testOutput) }),
              ...(coverageReport === undefined ? {} : { coverageReport: redactor.redact(coverageReport) }),
              ...(typeCheckOutput === undefined ? {} : { typeCheckOutput: redactor.redact(typeCheckOutput) })
            })
          }
        })

      const retries = Math.max(0, options.retries ?? settings.retries)
      const attempts: Array<VerifyAttempt> = []
      let last = yield* attemptOnce(1)
      attempts.push(last.attempt)
      while (!last.attempt.success && attempts.length <= retries) {
        yield* Effect.logInfo(`verify attempt ${attempts.length} failed; retrying`)
        last = yield* attemptOnce(attempts.length + 1)
        attempts.push(last.attempt)
      }
      return new VerificationResult({
        taskId: task.id,
        success: last.attempt.success,
        results: last.results,
        artifacts: last.artifacts,
        attempts
      })
    })

    return { verify }
  })

export const layer: Layer.Layer<Verifier, ConfigError.ConfigError, Redactor> = Layer.effect(
  Verifier,
  Effect.flatMap(VerifierConfig, make)
)

export const layerWith = (settings: VerifierSettings): Layer.Layer<Verifier, never, Redactor> =>
  Layer.effect(Verifier, make(settings))
