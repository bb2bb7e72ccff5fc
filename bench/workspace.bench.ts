import { git } from "@devteam/runtime/testing/GitRemote"
/**
 * Workspace: the `/prep`-equivalent (`Workspace.prepare`) against a local `file://` bare repository
 * of a small project (≈100 files, 20 commits):
 * - cold: empty cache → clone, create the task branch;
 * - warm (new task): cached → fetch, create a new task branch from fresh origin/main;
 * - warm (re-run): cached → fetch, reuse the existing task branch.
 * Target (quality.md): warm ≤ 200 ms [seed ≤ 2 s].
 */
import { TaskId } from "@devteam/domain/Ids"
import * as GitWorkspace from "@devteam/runtime/GitWorkspace"
import * as Redaction from "@devteam/runtime/Redaction"
import type * as Workspace from "@devteam/runtime/Workspace"
import * as WorkspaceLocks from "@devteam/runtime/WorkspaceLocks"
import { Duration, Effect, Logger, LogLevel, Option } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { performance } from "node:perf_hooks"
import { summarize } from "./stats.js"

const runs = 15

/** A bare repository with ≈100 small source files over 20 commits. */
const smallRemote = (root: string): string => {
  const bare = Path.join(root, "small.git")
  const work = Path.join(root, "seed")
  Fs.mkdirSync(work, { recursive: true })
  git(root, ["init", "--quiet", "--bare", "--initial-branch=main", bare])
  git(work, ["init", "--quiet", "--initial-branch=main"])
  for (let commit = 0; commit < 20; commit++) {
    for (let f = 0; f < 5; f++) {
      const file = Path.join(work, `src/module${commit}/file${f}.ts`)
      Fs.mkdirSync(Path.dirname(file), { recursive: true })
      Fs.writeFileSync(file, `export const value${f} = ${commit * 10 + f}\n`.repeat(40))
    }
    Fs.mkdirSync(Path.join(work, "docs/DevTeam"), { recursive: true })
    Fs.writeFileSync(Path.join(work, "docs/DevTeam/tasks_list.md"), `# Tasks\n\n- [ ] 1.1.${commit} Task ${commit}\n`)
    git(work, ["add", "--all"])
    git(work, ["commit", "--quiet", "-m", `commit ${commit}`])
  }
  git(work, ["push", "--quiet", bare, "HEAD:refs/heads/main"])
  return bare
}

const config = (workspaceDir: string): Workspace.WorkspaceConfig => ({
  workspaceDir,
  allowFile: true,
  gitUsername: Option.none(),
  credentials: [],
  authorName: "DevTeam Runner",
  authorEmail: "devteam-runner@localhost",
  commandTimeout: Duration.minutes(2)
})

const quiet = <A, E>(self: Effect.Effect<A, E>) => Effect.runPromise(Logger.withMinimumLogLevel(self, LogLevel.Warning))

const timed = async <A>(f: () => Promise<A>): Promise<number> => {
  const started = performance.now()
  await f()
  return performance.now() - started
}

export const run = async (): Promise<Record<string, unknown>> => {
  const root = Fs.mkdtempSync(Path.join(Os.tmpdir(), "devteam-bench-ws-"))
  try {
    const bare = smallRemote(root)
    const repoUrl = `file://${bare}`
    const cold: Array<number> = []
    for (let i = 0; i < runs; i++) {
      const ws = await Effect.runPromise(
        GitWorkspace.make(config(Path.join(root, `cold-${i}`))).pipe(
          Effect.provide([Redaction.layerWith([]), WorkspaceLocks.layer])
        )
      )
      cold.push(
        await timed(() =>
          quiet(ws.prepare({ repoUrl, baseBranch: "main", taskId: TaskId.make(`1.${i}`), title: "Cold" }))
        )
      )
    }
    const ws = await Effect.runPromise(
      GitWorkspace.make(config(Path.join(root, "warm"))).pipe(
        Effect.provide([Redaction.layerWith([]), WorkspaceLocks.layer])
      )
    )
    await quiet(ws.prepare({ repoUrl, baseBranch: "main", taskId: TaskId.make("0"), title: "Warm up" }))
    const warmNew: Array<number> = []
    const warmRerun: Array<number> = []
    for (let i = 0; i < runs; i++) {
      const taskId = TaskId.make(`2.${i}`)
      warmNew.push(
        await timed(() => quiet(ws.prepare({ repoUrl, baseBranch: "main", taskId, title: "Warm new" })))
      )
      warmRerun.push(
        await timed(() => quiet(ws.prepare({ repoUrl, baseBranch: "main", taskId, title: "Warm new" })))
      )
    }
    return {
      repo: "file:// bare, ~100 files, 20 commits",
      prepColdMs: summarize(cold),
      prepWarmNewBranchMs: summarize(warmNew),
      prepWarmRerunMs: summarize(warmRerun),
      targetWarmP50Ms: 200
    }
  } finally {
    Fs.rmSync(root, { recursive: true, force: true })
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  run().then((r) => console.log(JSON.stringify(r, null, 2)), (e: unknown) => {
    console.error(e)
    process.exitCode = 1
  })
}
