/**
 * The IMPLEMENT prompt: a deterministic, versioned template, the same for every agent (an adapter
 * may add its own framing around it). The same task and context always render to the same text,
 * whose sha256 (with the template version) is journaled so that a run can be reproduced. Change
 * `templateVersion` whenever the template text changes.
 *
 * What it holds: the task (id, title, description, files, requirement and criteria bullets), its
 * phase and group, what its dependencies did (their commits' files and a diffstat), the
 * repository's own guidance (AGENTS.md, CONVENTIONS.md, CLAUDE.md, CONTRIBUTING.md — excerpts), the
 * verification that will run, and — in the fix loop — the previous verification's failure. Every
 * section is bounded; the whole text is cut at `maxPromptChars`. The caller redacts the context
 * (outputs of commands may hold secrets).
 */
import type { Task } from "@devteam/domain/Task"
import { createHash } from "node:crypto"

export const templateVersion = "implement/v2"

/** The whole prompt is cut at this size (characters). */
export const maxPromptChars = 24_000

export interface RenderedPrompt {
  readonly text: string
  /** sha256 of `text`, hex. */
  readonly hash: string
  readonly templateVersion: string
}

export interface DependencyContext {
  readonly id: string
  readonly title: string
  /** Files its commits touched. */
  readonly files: ReadonlyArray<string>
  /** `git diff --stat`-like summary. */
  readonly diffstat: string
}

export interface GuidanceExcerpt {
  readonly file: string
  readonly excerpt: string
}

/** The previous VERIFY's failure, for the fix loop. */
export interface FixContext {
  /** The attempt that failed (1 = the first implementation). */
  readonly attempt: number
  /** How many attempts there are in all. */
  readonly maxAttempts: number
  readonly failedCommand?: { readonly command: string; readonly exitCode: number; readonly tail: string }
  /** `key: actual (required …)` lines of the criteria not met. */
  readonly failedCriteria: ReadonlyArray<string>
  /** `file actual% (required …)` lines. */
  readonly coverage: ReadonlyArray<string>
}

export interface PromptContext {
  readonly conventions?: string
  readonly requirements?: ReadonlyArray<string>
  readonly phaseTitle?: string
  readonly groupTitle?: string
  readonly dependencies?: ReadonlyArray<DependencyContext>
  readonly guidance?: ReadonlyArray<GuidanceExcerpt>
  /** The verify commands that will run (in order) — described when they are the defaults. */
  readonly verifyCommands?: ReadonlyArray<string>
  readonly fix?: FixContext
}

/** Machine-checked criteria (the Verifier checks them) versus free-text acceptance criteria. */
const machineCriteria = new Set(["test.coverage", "type.strict", "doc.updated"])

const describeCheck: Record<string, (value: string) => string> = {
  "test.coverage": (v) => `test.coverage: ${v} line coverage on each source file you change (the project's tests)`,
  "type.strict": (v) => `type.strict: ${v} from the project's TypeScript compiler`,
  "doc.updated": (v) => `doc.updated: your change must also update ${v}`
}

const normalise = (s: string): string => s.replace(/\r\n?/g, "\n").trim()

const cut = (s: string, max: number): string => (s.length <= max ? s : `${s.slice(0, max).trimEnd()}\n[…]`)

const bullets = (items: ReadonlyArray<string>, empty: string): string =>
  items.length === 0 ? `- ${empty}` : items.map((i) => `- ${normalise(i).replace(/\n/g, "\n  ")}`).join("\n")

/** Natural order for criterion keys (`acceptance.2` before `acceptance.10`). */
const compareKeys = (a: string, b: string): number => a.localeCompare(b, "en", { numeric: true })

const section = (title: string, body: string): ReadonlyArray<string> => [`## ${title}`, body, ""]

export const render = (
  task: Task,
  contextOrConventions: PromptContext | string = {},
  requirements: ReadonlyArray<string> = []
): RenderedPrompt => {
  const context: PromptContext = typeof contextOrConventions === "string"
    ? { conventions: contextOrConventions, requirements }
    : { ...contextOrConventions, requirements: [...(contextOrConventions.requirements ?? []), ...requirements] }
  const criteria = Object.keys(task.criteria).sort(compareKeys)
  const reqs = [
    ...(context.requirements ?? []),
    ...criteria.filter((k) => k.startsWith("requirement")).map((k) => task.criteria[k] ?? "")
  ]
  const acceptance = criteria
    .filter((k) => !k.startsWith("requirement") && !machineCriteria.has(k))
    .map((k) => task.criteria[k] ?? "")
  const checks = criteria.filter((k) => machineCriteria.has(k)).map((k) =>
    (describeCheck[k] ?? ((v: string) => `${k}: ${v}`))(task.criteria[k] ?? "")
  )
  const where = [
    context.phaseTitle === undefined ? undefined : `Phase: ${normalise(context.phaseTitle)}`,
    context.groupTitle === undefined ? undefined : `Group: ${normalise(context.groupTitle)}`
  ].filter((l): l is string => l !== undefined)
  const deps = (context.dependencies ?? []).slice(0, 10).map((d) =>
    cut(
      `${d.id} ${normalise(d.title)}${
        d.files.length === 0
          ? " (no file changes)"
          : `\n${d.diffstat.split("\n").map((l) => l.trim()).filter((l) => l !== "").join("\n")}`
      }`,
      1_200
    )
  )
  const guidance = (context.guidance ?? []).map((g) => `### ${g.file}\n${cut(normalise(g.excerpt), 3_000)}`)
  const fix = context.fix
  const fixSection = fix === undefined ? [] : section(
    `Previous attempt failed verification (attempt ${fix.attempt} of ${fix.maxAttempts})`,
    [
      "Your previous change is already committed on this branch. Fix it so that verification passes;",
      "do not start over and do not weaken the tests.",
      ...(fix.failedCommand === undefined ? [] : [
        "",
        `Failing command: \`${fix.failedCommand.command}\` (exit ${fix.failedCommand.exitCode})`,
        "Last lines of its output:",
        "```",
        cut(normalise(fix.failedCommand.tail), 4_000),
        "```"
      ]),
      ...(fix.failedCriteria.length === 0 ? [] : ["", "Criteria not met:", bullets(fix.failedCriteria, "")]),
      ...(fix.coverage.length === 0 ? [] : ["", "Coverage of the files you changed:", bullets(fix.coverage, "")])
    ].join("\n")
  )
  const text = cut(
    [
      `# Task ${task.id}: ${normalise(task.title)}`,
      "",
      "You are working in a git repository. Implement exactly this task, with minimal, file-scoped",
      "changes. Do not commit; do not modify files unrelated to the task.",
      "",
      ...fixSection,
      ...(where.length === 0 ? [] : section("Where this task sits", where.join("\n"))),
      ...section(
        "Description",
        normalise(task.description) === "" ? "(none)" : cut(normalise(task.description), 4_000)
      ),
      ...section("Files", bullets(task.files, "(not specified: choose the smallest set of files)")),
      ...section("Requirements", bullets(reqs, "(none beyond the description)")),
      ...section("Acceptance criteria", bullets(acceptance, "(none beyond the description)")),
      ...(deps.length === 0 ? [] : section("What its dependencies changed", bullets(deps, ""))),
      ...section(
        "Verification that will run",
        [
          context.verifyCommands === undefined || context.verifyCommands.length === 0
            ? "The project's install, build, test and type-check commands (those that exist)."
            : `Commands: ${context.verifyCommands.map((c) => `\`${c}\``).join(", ")}`,
          "Checks:",
          bullets(checks, "(the commands above must pass)")
        ].join("\n")
      ),
      ...section(
        "Repository conventions",
        normalise(context.conventions ?? "") === ""
          ? "(none given: follow the style of the surrounding code)"
          : cut(normalise(context.conventions ?? ""), 3_000)
      ),
      ...(guidance.length === 0 ? [] : section("Repository guidance", guidance.join("\n\n")))
    ].join("\n"),
    maxPromptChars
  )
  return { text, hash: createHash("sha256").update(text, "utf8").digest("hex"), templateVersion }
}
