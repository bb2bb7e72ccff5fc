/**
 * VERIFY: in the project's sandbox, the project's verify commands, then each machine-checked
 * criterion the task asks for.
 *
 * Commands: `verify.commands` when the execution (or project) sets them; otherwise, for a Node
 * project (a package.json), install with the package manager of the lockfile (npm, pnpm, yarn —
 * see `NodeProject`; no lockfile → `install` and a warning in the result) → `build` if the script
 * exists → `test` if the script exists → `tsc` if a tsconfig.json exists. The install is skipped
 * when package.json and the lockfile are unchanged since the last successful install in this
 * workspace, and downloads go to a cache kept per project (`SandboxHandle.cacheDir`): a warm
 * VERIFY downloads nothing.
 *
 * Criteria:
 * - `test.coverage: "≥80%"` — the repository's own test runner with coverage written as an
 *   istanbul json-summary (vitest, jest: their options; c8, nyc: around the test script; else the
 *   test script's own coverage table), judged per touched source file (`Coverage`);
 * - `type.strict: "0 errors"` — the project's own TypeScript (`tsc -b` for a solution config,
 *   `tsc --noEmit -p tsconfig.json` otherwise), counting `error TS####`;
 * - `doc.updated: "task_outcomes.md"` — the task's diff touches that doc.
 *
 * A failed verification is not retried here with the same code: the pipeline's fix loop runs
 * IMPLEMENT again with the failure. Only an install that failed on the network (infrastructure)
 * is retried, with backoff. The first failing command is named in the result with its exit code.
 * The commands run code from the customer's repository: their environment holds no git token and
 * no model key — only CI and npm settings (audit, fund and update checks off).
 */
import {
  CriterionResult,
  FailedCommand,
  VerificationArtifacts,
  VerificationResult,
  VerifyAttempt
} from "@devteam/domain/Artifacts"
import type { SandboxUnavailable } from "@devteam/domain/Errors"
import type { Task, TaskCriteria } from "@devteam/domain/Task"
import { Config, Context, Data, Duration, Effect, Layer, Schedule } from "effect"
import type { ConfigError } from "effect"
import * as Coverage from "./Coverage.js"
import * as NodeProject from "./NodeProject.js"
import { Redactor } from "./Redaction.js"
import type { ExecResult, OutputLine, SandboxHandle } from "./Sandbox.js"

export interface VerifyOptions {
  readonly sandbox: SandboxHandle
  readonly task: Task
  /** Default: the task's criteria. */
  readonly criteria?: TaskCriteria
  /** Shell commands replacing the defaults (install → build → test → typecheck). */
  readonly commands?: ReadonlyArray<string>
  /** Files the task's diff touched (`doc.updated`, the coverage scope). */
  readonly diffFiles: ReadonlyArray<string>
  /** For `test.coverage`: a command writing `coverage-summary.json` to `$COVERAGE_DIR` (default: detected). */
  readonly testCommand?: string
  /** For `type.strict`; default the project's `tsc`. */
  readonly typecheckCommand?: string
  readonly onLine?: (line: OutputLine) => Effect.Effect<void>
  /** Per command; default `VERIFY_COMMAND_TIMEOUT`. */
  readonly timeout?: Duration.DurationInput
  /** The fix-loop attempt this verification belongs to (default 1). */
  readonly attempt?: number
}

export interface VerifierSettings {
  readonly commandTimeout: Duration.Duration
  /** VERIFY_RETRIES: how many times a failed VERIFY sends the task back to IMPLEMENT (the fix loop). */
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
  /** VERIFY_RETRIES: fix attempts after a failed verification. */
  readonly retries: number
}>() {}

/** The environment of every verify command: no secrets, offline-friendly npm. */
export const verifyEnv: Readonly<Record<string, string>> = {
  CI: "true",
  npm_config_audit: "false",
  npm_config_fund: "false",
  npm_config_update_notifier: "false",
  npm_config_progress: "false"
}

/** The per-project download caches under the sandbox's cache directory. */
export const cacheEnv = (cacheDir: string): Record<string, string> => ({
  npm_config_cache: `${cacheDir}/npm`,
  npm_config_store_dir: `${cacheDir}/pnpm-store`,
  YARN_CACHE_FOLDER: `${cacheDir}/yarn`,
  npm_config_prefer_offline: "true"
})

/** The first number of a criterion value (`"≥80%"` → 80, `"0 errors"` → 0). */
export const parseNumber = (value: string): number | undefined => {
  const m = /(\d+(?:\.\d+)?)/.exec(value)
  return m === null ? undefined : Number(m[1])
}

/**
 * Coverage from a coverage table in the output (node's `--experimental-test-coverage`, istanbul's
 * text reporter): the "all files" row and one row per file (its first figure).
 */
export const parseCoverageTable = (output: string): { total: number | undefined; files: Map<string, number> } => {
  const files = new Map<string, number>()
  let total: number | undefined
  for (const line of output.split("\n")) {
    const row = /^[#\s]*([^|]*?)\s*\|\s*(\d+(?:\.\d+)?)\s*\|/.exec(line)
    if (row === null) continue
    const name = (row[1] ?? "").trim()
    if (/^all files$/i.test(name)) total = Number(row[2])
    else if (name !== "" && !/^file$/i.test(name)) files.set(name, Number(row[2]))
  }
  return { total, files }
}

export const countTypeErrors = (output: string): number => (output.match(/error TS\d+/g) ?? []).length

const transcript = (command: string, r: ExecResult): string =>
  [
    `$ ${command}`,
    r.stdout,
    r.stderr,
    r.timedOut ? "[timed out]" : r.oomKilled ? "[killed: out of memory]" : `[exit ${r.exitCode}]`
  ].filter((s) => s !== "").join("\n")

const tailOf = (r: ExecResult, n = 40): string =>
  `${r.stdout}\n${r.stderr}`.split("\n").filter((l) => l.trim() !== "").slice(-n).join("\n")

/** An install that failed on the network: infrastructure, worth the same command again. */
const networkFailure = /ECONNRESET|ETIMEDOUT|EAI_AGAIN|ENOTFOUND|ECONNREFUSED|socket hang up|network (error|timeout)/i

class InstallNetworkFailure extends Data.TaggedError("InstallNetworkFailure")<{ readonly result: ExecResult }> {}

const installRetry = Schedule.exponential(Duration.seconds(1), 2).pipe(Schedule.intersect(Schedule.recurs(2)))

interface Step {
  readonly name: string
  readonly command: string
  /** The default install: retried on network failures, skipped when up to date. */
  readonly install?: boolean
}

const stampFile = "node_modules/.devteam-install-stamp"

/**
 * Where the stamp goes when the install made no node_modules (a project without dependencies):
 * the sandbox's tmpdir, which lives as long as the sandbox (one execution, one work tree), so
 * that a warm VERIFY skips that install too. node_modules' own stamp wins whenever it exists.
 */
const bareStampFile = (tmpdir: string) => `${tmpdir}/devteam-install-stamp`

/** The lockfiles whose sums (with package.json's) make the install stamp. */
const lockfiles = ["package-lock.json", "npm-shrinkwrap.json", "pnpm-lock.yaml", "yarn.lock"] as const

/**
 * What VERIFY needs to know about the workspace before running anything, in one sandbox command:
 * which of NodeProject's files exist, then sections (`<marker> <name>` lines) with package.json,
 * tsconfig.json, the sums of package.json and the lockfiles, and the last install's stamp
 * (node_modules' own, else the one of an install that made no node_modules).
 * argv: sh -c SCRIPT probe MARKER BARE_STAMP FILES…
 */
const probeScript = [
  "m=\"$1\"; bare=\"$2\"; shift 2",
  "for f in \"$@\"; do [ -e \"$f\" ] && echo \"$f\"; done",
  "section() { [ -f \"$2\" ] && { printf '\\n%s %s\\n' \"$m\" \"$1\"; cat \"$2\"; }; }",
  "section package.json package.json",
  "section tsconfig.json tsconfig.json",
  "printf '\\n%s sums\\n' \"$m\"",
  `sha256sum package.json ${lockfiles.join(" ")} 2>/dev/null`,
  `if [ -d node_modules ]; then section stamp ${stampFile}; else section stamp "$bare"; fi`,
  "exit 0"
].join("\n")

interface Probe {
  readonly files: ReadonlySet<string>
  readonly sections: ReadonlyMap<string, string>
}

export const parseProbe = (stdout: string, marker: string): Probe => {
  const [list = "", ...rest] = stdout.split(`\n${marker} `)
  const sections = new Map<string, string>()
  for (const part of rest) {
    const newline = part.indexOf("\n")
    sections.set(newline < 0 ? part : part.slice(0, newline), newline < 0 ? "" : part.slice(newline + 1))
  }
  return { files: new Set(list.split("\n").map((l) => l.trim()).filter((l) => l !== "")), sections }
}

export const make = (settings: VerifierSettings): Effect.Effect<Verifier["Type"], never, Redactor> =>
  Effect.gen(function*() {
    const redactor = yield* Redactor

    const verify = Effect.fn("Verifier.verify")(function*(options: VerifyOptions) {
      const { sandbox, task } = options
      yield* Effect.annotateCurrentSpan({ taskId: task.id })
      const startedAt = Date.now()
      const criteria = options.criteria ?? task.criteria
      const timeout = options.timeout ?? settings.commandTimeout
      const coverageDir = `${sandbox.tmpdir}/coverage-${crypto.randomUUID()}`
      const env = {
        ...verifyEnv,
        ...(sandbox.cacheDir === undefined ? {} : cacheEnv(sandbox.cacheDir)),
        COVERAGE_DIR: coverageDir
      }
      const run = (command: string) =>
        sandbox.exec({
          command: ["sh", "-c", command],
          env,
          timeout,
          ...(options.onLine ? { onLine: options.onLine } : {})
        })
      const quiet = (command: ReadonlyArray<string>) => sandbox.exec({ command, env, timeout: "60 seconds" })
      const readFile = (file: string) =>
        Effect.map(quiet(["cat", file]), (r) => (r.exitCode === 0 ? r.stdout : undefined))

      // What the repository is, and what was installed last (one command: each costs a round trip)
      const marker = `@@devteam-probe-${crypto.randomUUID()}@@`
      const bareStamp = bareStampFile(sandbox.tmpdir)
      const probed = yield* quiet([
        "sh",
        "-c",
        probeScript,
        "probe",
        marker,
        bareStamp,
        ...NodeProject.probedFiles
      ])
      const { files, sections } = parseProbe(probed.stdout, marker)
      const project = NodeProject.analyse({
        files,
        packageJson: sections.get("package.json"),
        tsconfig: sections.get("tsconfig.json")
      })
      const warnings: Array<string> = [...(project?.warnings ?? [])]
      const wantsCoverage = "test.coverage" in criteria
      const wantsTypes = "type.strict" in criteria

      const steps: Array<Step> = []
      if (options.commands !== undefined) {
        options.commands.forEach((command, i) => steps.push({ name: `command ${i + 1}`, command }))
      } else if (project !== undefined) {
        steps.push({ name: "install", command: NodeProject.installCommand(project), install: true })
        if (project.scripts.build !== undefined) {
          steps.push({ name: "build", command: NodeProject.runScript(project, "build") })
        }
        // with test.coverage, the coverage run is the test run
        if (project.scripts.test !== undefined && !wantsCoverage) {
          steps.push({ name: "test", command: NodeProject.runScript(project, "test") })
        }
        if (project.typescript && !wantsTypes) {
          steps.push({ name: "typecheck", command: NodeProject.typecheckCommand(project) })
        }
      }

      const log: Array<string> = []
      const buildLog: Array<string> = []
      let failedCommand: FailedCommand | undefined
      const noteFailure = (name: string, command: string, r: ExecResult) => {
        if (failedCommand === undefined) {
          failedCommand = new FailedCommand({
            name,
            command,
            exitCode: r.exitCode,
            timedOut: r.timedOut,
            tail: redactor.redact(tailOf(r))
          })
        }
      }

      // The install is up to date when package.json and the lockfile are what it installed.
      const stamp = (() => {
        if (project === undefined) return undefined
        const summed = ["package.json", ...(project.lockfile ? [project.lockfile] : [])]
        const sums = (sections.get("sums") ?? "").split("\n").filter((l) => summed.some((f) => l.endsWith(`  ${f}`)))
        return sums.length === summed.length ? `${project.packageManager}\n${sums.join("\n")}` : undefined
      })()
      // The project's tsc: as probed, unless this verification ran the install (it may have just created it).
      let installed = false
      const tscInstalled = Effect.suspend(() =>
        installed ? tscPresent(quiet) : Effect.succeed(files.has("node_modules/.bin/tsc"))
      )

      let buildOk = true
      for (const step of steps) {
        if (options.commands === undefined && step.name === "typecheck" && !(yield* tscInstalled)) {
          warnings.push("tsconfig.json present but the project does not install typescript: not type-checked")
          continue
        }
        const stampNow = step.install === true ? stamp : undefined
        if (stampNow !== undefined && sections.get("stamp")?.trim() === stampNow.trim()) {
          const line =
            `$ ${step.command}\n[skipped: package.json and the lockfile are unchanged since the last install]`
          log.push(line)
          buildLog.push(line)
          continue
        }
        const r = step.install === true
          ? yield* run(step.command).pipe(
            Effect.flatMap((r) =>
              r.exitCode !== 0 && networkFailure.test(`${r.stdout}\n${r.stderr}`)
                ? Effect.zipRight(
                  Effect.sync(() => log.push(transcript(step.command, r), "[network failure: retrying the install]")),
                  Effect.fail(new InstallNetworkFailure({ result: r }))
                )
                : Effect.succeed(r)
            ),
            Effect.retry({ schedule: installRetry, while: (e) => e._tag === "InstallNetworkFailure" }),
            Effect.catchTag("InstallNetworkFailure", (e) => Effect.succeed(e.result))
          )
          : yield* run(step.command)
        const t = transcript(step.command, r)
        log.push(t)
        buildLog.push(t)
        if (r.exitCode !== 0 || r.timedOut) {
          noteFailure(step.name, step.command, r)
          buildOk = false
          break
        }
        if (step.install === true) installed = true
        if (stampNow !== undefined) {
          yield* quiet([
            "sh",
            "-c",
            "if [ -d node_modules ]; then f=\"$2\"; else f=\"$3\"; fi; printf '%s' \"$1\" > \"$f\"",
            "stamp",
            stampNow,
            stampFile,
            bareStamp
          ])
        }
      }

      const results: Record<string, CriterionResult> = {}
      let testOutput: string | undefined
      let coverageReport: string | undefined
      let typeCheckOutput: string | undefined
      const notRun = (required: string) =>
        new CriterionResult({
          passed: false,
          actual: `not run: ${failedCommand?.name ?? "a verify command"} failed`,
          required
        })

      for (const key of Object.keys(criteria).sort()) {
        const required = criteria[key] ?? ""
        if (key === "test.coverage") {
          if (!buildOk) {
            results[key] = notRun(required)
            continue
          }
          const testCommand = options.testCommand ??
            (project === undefined ? undefined : NodeProject.coverageCommand(project, coverageDir))
          if (testCommand === undefined) {
            results[key] = new CriterionResult({ passed: false, actual: "no package.json: no test runner", required })
            continue
          }
          const r = yield* run(testCommand)
          const t = transcript(testCommand, r)
          log.push(t)
          testOutput = t
          if (r.exitCode !== 0 || r.timedOut) noteFailure("test", testCommand, r)
          const summaryText = yield* readFile(`${coverageDir}/coverage-summary.json`)
          const output = `${r.stdout}\n${r.stderr}`
          const summary =
            (summaryText === undefined ? undefined : Coverage.readSummary(summaryText, sandbox.workdir)) ??
              parseCoverageTable(output)
          coverageReport = summaryText ?? output.split("\n").filter((l) => l.includes("|")).join("\n")
          const threshold = parseNumber(required) ?? 0
          const found = summary.total !== undefined || summary.files.size > 0
          const judged = Coverage.judge(summary, options.diffFiles, threshold)
          results[key] = new CriterionResult({
            passed: r.exitCode === 0 && found && judged.passed,
            actual: !found
              ? `no coverage summary (tests exited ${r.exitCode})`
              : r.exitCode !== 0
              ? `${judged.actual} (tests failed: exit ${r.exitCode})`
              : judged.actual,
            required,
            ...(judged.perFile.length === 0 ? {} : { perFile: judged.perFile })
          })
        } else if (key === "type.strict") {
          if (!buildOk) {
            results[key] = notRun(required)
            continue
          }
          const command = options.typecheckCommand ?? (project !== undefined || files.has("tsconfig.json")
            ? NodeProject.typecheckCommand(project ?? { solution: false })
            : undefined)
          if (command === undefined || (options.typecheckCommand === undefined && !(yield* tscInstalled))) {
            results[key] = new CriterionResult({
              passed: false,
              actual: "TypeScript is not installed in the project (node_modules/.bin/tsc is missing)",
              required
            })
            continue
          }
          const r = yield* run(command)
          const t = transcript(command, r)
          log.push(t)
          typeCheckOutput = t
          const errors = countTypeErrors(`${r.stdout}\n${r.stderr}`)
          const allowed = parseNumber(required) ?? 0
          const ran = r.exitCode === 0 || errors > 0
          const passed = ran && errors <= allowed
          if (!passed) noteFailure("typecheck", command, r)
          results[key] = new CriterionResult({
            passed,
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
            `doc.updated ${NodeProject.shellQuote(required)}: ${
              touched.length > 0 ? touched.join(", ") : "not in the diff"
            }`
          )
        }
      }
      if (warnings.length > 0) log.unshift(...warnings.map((w) => `warning: ${w}`))
      const success = buildOk && Object.values(results).every((r) => r.passed)
      return new VerificationResult({
        taskId: task.id,
        success,
        results,
        artifacts: new VerificationArtifacts({
          buildOutput: redactor.redact(buildLog.join("\n\n")),
          ...(testOutput === undefined ? {} : { testOutput: redactor.redact(testOutput) }),
          ...(coverageReport === undefined ? {} : { coverageReport: redactor.redact(coverageReport) }),
          ...(typeCheckOutput === undefined ? {} : { typeCheckOutput: redactor.redact(typeCheckOutput) })
        }),
        attempts: [
          new VerifyAttempt({
            attempt: options.attempt ?? 1,
            success,
            log: redactor.redact(log.join("\n\n")),
            duration: (Date.now() - startedAt) / 1000
          })
        ],
        ...(project === undefined ? {} : { packageManager: project.packageManager }),
        ...(failedCommand === undefined ? {} : { failedCommand }),
        ...(warnings.length === 0 ? {} : { warnings })
      })
    })

    return { verify, retries: settings.retries }
  })

/** The project's tsc, looked up again (the install may have just created it). */
const tscPresent = (
  quiet: (command: ReadonlyArray<string>) => Effect.Effect<ExecResult, SandboxUnavailable>
): Effect.Effect<boolean, SandboxUnavailable> =>
  Effect.map(quiet(["test", "-e", "node_modules/.bin/tsc"]), (r) => r.exitCode === 0)

export const layer: Layer.Layer<Verifier, ConfigError.ConfigError, Redactor> = Layer.effect(
  Verifier,
  Effect.flatMap(VerifierConfig, make)
)

export const layerWith = (settings: VerifierSettings): Layer.Layer<Verifier, never, Redactor> =>
  Layer.effect(Verifier, make(settings))
