/**
 * What IMPLEMENT's prompt is told beyond the task itself, gathered from the task list and the
 * repository: the task's phase and group titles, what its dependencies changed (their
 * `task <id>: …` commits on the base branch: files and a diffstat), the repository's own guidance
 * files (bounded excerpts), and — in the fix loop — the previous verification's failure. Every
 * text that came out of the repository or a command is passed through the Redactor by the caller.
 */
import type { VerificationResult } from "@devteam/domain/Artifacts"
import type { Task } from "@devteam/domain/Task"
import type { TaskList } from "@devteam/domain/TaskList"
import { Duration, Effect } from "effect"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { runGit } from "./internal/gitProcess.js"
import type { DependencyContext, FixContext, GuidanceExcerpt } from "./Prompt.js"

/** The guidance files read from the repository root, in this order. */
export const guidanceFiles = ["AGENTS.md", "CONVENTIONS.md", "CLAUDE.md", "CONTRIBUTING.md"] as const

const excerptChars = 3_000

/** The repository's guidance files present at the root of `repoPath`, each cut to an excerpt. */
export const guidance = (repoPath: string): Effect.Effect<ReadonlyArray<GuidanceExcerpt>> =>
  Effect.promise(async () => {
    const found: Array<GuidanceExcerpt> = []
    for (const file of guidanceFiles) {
      const text = await fs.readFile(path.join(repoPath, file), "utf8").catch(() => undefined)
      if (text !== undefined && text.trim() !== "") {
        found.push({ file, excerpt: text.length > excerptChars ? `${text.slice(0, excerptChars)}\n[…]` : text })
      }
    }
    return found
  })

/** The titles of the task's group and phase in the list (by parent links). */
export const placement = (
  list: TaskList,
  task: Task
): { readonly phaseTitle?: string; readonly groupTitle?: string } => {
  const index = new Map<string, number>(list.tasks.map((t, i) => [t.id, i]))
  let phaseTitle: string | undefined
  let groupTitle: string | undefined
  let parent = list.sources[index.get(task.id) ?? -1]?.parentId ?? null
  for (let depth = 0; parent !== null && depth < 10; depth++) {
    const i = index.get(parent)
    const t = i === undefined ? undefined : list.tasks[i]
    if (i === undefined || t === undefined) break
    if (t.type === "group" && groupTitle === undefined) groupTitle = `${t.id} ${t.title}`
    if (t.type === "phase" && phaseTitle === undefined) phaseTitle = `${t.id} ${t.title}`
    parent = list.sources[i]?.parentId ?? null
  }
  return {
    ...(phaseTitle === undefined ? {} : { phaseTitle }),
    ...(groupTitle === undefined ? {} : { groupTitle })
  }
}

const gitRun = (cwd: string, args: ReadonlyArray<string>) =>
  runGit({
    cwd,
    args,
    timeout: Duration.seconds(30),
    allowProtocols: [],
    author: { name: "devteam", email: "devteam@localhost" }
  }).pipe(Effect.option)

/**
 * For each dependency (a phase or group dependency: the atomic tasks inside it; the last 10): its
 * title, the files its commits on `baseBranch` touched and their diffstat (its newest 5 commits).
 * A dependency without commits is listed with no files. One git process for all of them.
 */
export const dependencies = (
  repoPath: string,
  baseBranch: string,
  list: TaskList,
  task: Task
): Effect.Effect<ReadonlyArray<DependencyContext>> =>
  Effect.gen(function*() {
    // a phase or group dependency (`Dependencies: [1]`) stands for the atomic tasks inside it
    const atomic = list.tasks.filter((t) => t.type === "atomic" && t.id !== task.id)
    const deps = [
      ...new Set(
        task.dependencies.flatMap((id) => atomic.filter((t) => t.id === id || t.id.startsWith(`${id}.`)))
      )
    ].slice(-10)
    if (deps.length === 0) return []
    // every commit naming one of them (`task <id>: …`), newest first: message, numstat, stat
    const log = yield* gitRun(repoPath, [
      "log",
      baseBranch,
      "--no-merges",
      "--fixed-strings",
      ...deps.map((dep) => `--grep=task ${dep.id}: `),
      "--max-count=500",
      "--format=%x01%B%x02",
      "--numstat",
      "--stat=100"
    ])
    const commits = log._tag === "Some" && log.value.exitCode === 0
      ? log.value.stdout.split("\x01").slice(1).map((entry) => {
        const [message = "", rest = ""] = entry.split("\x02")
        const lines = rest.split("\n").filter((l) => l.trim() !== "")
        const numstat = lines.flatMap((l) => {
          const m = /^(?:\d+|-)\t(?:\d+|-)\t(.*)$/.exec(l)
          return m?.[1] === undefined ? [] : [m[1]]
        })
        return { message, files: numstat, stat: lines.filter((l) => !/^(?:\d+|-)\t/.test(l)) }
      })
      : []
    return deps.map((dep) => {
      const own = commits.filter((c) => c.message.includes(`task ${dep.id}: `)).slice(0, 5)
      return {
        id: dep.id,
        title: dep.title,
        files: [...new Set(own.flatMap((c) => c.files))],
        diffstat: own.flatMap((c) => c.stat).slice(-22).join("\n").trim()
      }
    })
  })

/** The fix loop's section: what failed in the previous verification. */
export const fixContext = (result: VerificationResult, maxAttempts: number): FixContext => {
  const failedCriteria = Object.entries(result.results)
    .filter(([, r]) => !r.passed)
    .map(([key, r]) => `${key}: ${r.actual ?? "not met"} (required ${r.required ?? "?"})`)
  const coverage = (result.results["test.coverage"]?.perFile ?? []).map((f) =>
    `${f.file}: ${f.actual === null ? "not loaded by any test" : `${f.actual}%`} (required ${
      result.results["test.coverage"]?.required ?? "?"
    })${f.passed ? "" : " — below"}`
  )
  const failed = result.failedCommand
  return {
    attempt: result.attempts.at(-1)?.attempt ?? 1,
    maxAttempts,
    ...(failed === undefined
      ? {}
      : { failedCommand: { command: failed.command, exitCode: failed.exitCode, tail: failed.tail } }),
    failedCriteria,
    coverage
  }
}
