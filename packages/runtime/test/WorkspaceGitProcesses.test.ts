/**
 * The git processes of a warm task's workspace operations (pipeline overhead, quality.md): the
 * Workspace calls of SELECT → UPDATE_TASKLIST for a second task, counted by subcommand through a
 * `git` shim (GitCounter). Ref and ancestry questions are answered from the git dir's files (no
 * for-each-ref, rev-parse or merge-base), PREP takes SELECT's fetch of a moment ago as its own, the
 * tick is one commit on the checked-out base; the commits, refs and pushes are what git itself says.
 */
import { TaskId } from "@devteam/domain/Ids"
import * as GitCounter from "@devteam/runtime/testing/GitCounter"
import {
  fileUrl,
  git,
  makeBareRemote,
  pushChange,
  refsOf,
  remoteFile,
  remoteHead,
  tempDir
} from "@devteam/runtime/testing/GitRemote"
import { makeWorkspace } from "@devteam/runtime/testing/TestWorkspace"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"

let counter: GitCounter.GitCounter
beforeAll(() => {
  counter = GitCounter.install()
})
afterAll(() => counter.restore())

const tick = (taskId: string) => (source: string): string | null =>
  source.includes(`- [ ] ${taskId} `) ? source.replace(`- [ ] ${taskId} `, `- [x] ${taskId} `) : null

/** `git <subcommand>` → count, of the invocations logged since `from`. */
const bySubcommand = (from: number): Record<string, number> => {
  const counts: Record<string, number> = {}
  for (const line of counter.lines().slice(from)) {
    // `<cwd> <args…>`: the work trees' paths hold no space
    const sub = line.split(" ")[1] ?? "?"
    counts[sub] = (counts[sub] ?? 0) + 1
  }
  return counts
}

const project = "acme/site"

const setup = Effect.gen(function*() {
  const root = yield* tempDir("devteam-wsgit-")
  const bare = makeBareRemote({ root: Path.join(root, "remotes") })
  const ws = yield* makeWorkspace(Path.join(root, "workspaces"))
  return { bare, url: fileUrl(bare), ws }
})

describe("Workspace git processes", () => {
  it.scopedLive("a warm task asks git no ref, ancestry or file question and ticks in one commit", () =>
    Effect.gen(function*() {
      const { bare, url, ws } = yield* setup
      const path = "docs/DevTeam/tasks_list.md"

      const runTask = (taskId: string, title: string) =>
        Effect.gen(function*() {
          const synced = yield* ws.sync({ repoUrl: url, baseBranch: "main" })
          const prep = yield* ws.prepare({
            repoUrl: url,
            project,
            baseBranch: "main",
            taskId: TaskId.make(taskId),
            title
          })
          const { branch, repoPath } = prep
          Fs.writeFileSync(Path.join(repoPath, `notes-${taskId}.txt`), `${title}\n`)
          const message = `task ${taskId}: ${title}`
          const committed = yield* ws.commitChanges({ repoPath, branch, baseBranch: "main", message })
          yield* ws.publishBranch({ repoPath, branch })
          yield* ws.ensureTaskBranch({ repoUrl: url, project, branch })
          const diff = yield* ws.diffSummary({ repoPath, branch, baseBranch: "main" })
          yield* ws.ensureTaskBranch({ repoUrl: url, project, branch })
          const merged = yield* ws.merge({ repoPath, branch, baseBranch: "main" })
          yield* ws.ensureTaskBranch({ repoUrl: url, project, branch })
          const pushed = yield* ws.push({ repoPath, baseBranch: "main" })
          const marked = yield* ws.markTaskCompleted({
            repoPath,
            baseBranch: "main",
            path,
            taskId: TaskId.make(taskId),
            render: tick(taskId)
          })
          return { synced, prep, committed, diff, merged, pushed, marked }
        })

      yield* runTask("1.1.1", "Create the project skeleton") // cold: clones
      const before = counter.count()
      const task = yield* runTask("1.1.2", "Add a README")
      const counts = bySubcommand(before)

      // what git itself says about the outcome
      const { committed, diff, marked, merged, prep, pushed } = task
      const repoPath = prep.repoPath
      assert.isFalse(prep.cloned)
      assert.isTrue(committed.committed)
      assert.deepStrictEqual(diff.filesModified, ["notes-1.1.2.txt"])
      assert.strictEqual(committed.commit, git(repoPath, ["rev-parse", `refs/heads/${prep.branch}`]).trim())
      assert.isFalse(merged.alreadyMerged)
      assert.strictEqual(
        git(repoPath, ["rev-parse", `${merged.mergeCommit}^1`, `${merged.mergeCommit}^2`]).trim(),
        `${prep.baseCommit}\n${committed.commit}`
      )
      assert.isFalse(pushed.alreadyPushed)
      assert.strictEqual(pushed.pushedCommit, merged.mergeCommit)
      assert.isTrue(marked.committed)
      assert.strictEqual(remoteHead(bare), marked.commit)
      assert.strictEqual(git(repoPath, ["rev-parse", `${marked.commit}^`]).trim(), merged.mergeCommit)
      assert.strictEqual(git(repoPath, ["log", "-1", "--format=%B", marked.commit]), "1.1.2: mark completed\n\n")
      assert.include(remoteFile(bare, path), "- [x] 1.1.2 ")
      assert.include(remoteFile(bare, path), "- [x] 1.1.1 ")
      // the tick's work tree and index are the commit's
      assert.strictEqual(git(repoPath, ["status", "--porcelain", "--untracked-files=all"]), "")
      assert.include(Fs.readFileSync(Path.join(repoPath, path), "utf8"), "- [x] 1.1.2 ")
      // the refs the files answered are git's (loose and packed)
      const refs = refsOf(repoPath)
      assert.include(refs, `refs/heads/main ${marked.commit}`)
      assert.include(refs, `refs/remotes/origin/main ${marked.commit}`)

      // no ref, ancestry or (loose) file question went to git, nor the tick's blob; the tick is one commit
      const asked = ["clone", "for-each-ref", "rev-parse", "merge-base", "ls-tree", "cat-file", "hash-object"]
      for (const name of [...asked, "read-tree", "write-tree", "commit-tree"]) {
        assert.isUndefined(counts[name], `git ${name} ran: ${JSON.stringify(counts)}`)
      }
      assert.strictEqual(counts["commit"], 2, JSON.stringify(counts))
      // SELECT's fetch (the shared cache) saw what PREP needs: one fetch for the task
      assert.strictEqual(counts["fetch"], 1, JSON.stringify(counts))
      // the task's one diff is VERIFY's (commitChanges leaves the summary to the tool's artifact)
      assert.strictEqual(counts["diff"], 1, JSON.stringify(counts))
      assert.strictEqual(counts["update-ref"], undefined, JSON.stringify(counts))
    }))

  it.scopedLive("PREP fetches when the shared cache saw a base its work tree does not have", () =>
    Effect.gen(function*() {
      const { bare, url, ws } = yield* setup
      const prepare = (taskId: string) =>
        ws.prepare({ repoUrl: url, project, baseBranch: "main", taskId: TaskId.make(taskId), title: "T" })
      yield* ws.sync({ repoUrl: url, baseBranch: "main" })
      yield* prepare("1.1.1")
      const moved = pushChange({ remote: bare, files: { "moved.txt": "moved\n" } })
      const synced = yield* ws.sync({ repoUrl: url, baseBranch: "main" })
      assert.strictEqual(synced.baseCommit, moved)
      const before = counter.count()
      const prep = yield* prepare("1.1.2")
      assert.strictEqual(prep.baseCommit, moved)
      assert.strictEqual(bySubcommand(before)["fetch"], 1)
    }))
})
