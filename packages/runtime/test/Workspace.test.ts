import { branchName } from "@devteam/domain/Branch"
import { TaskId } from "@devteam/domain/Ids"
import * as GitWorkspace from "@devteam/runtime/GitWorkspace"
import * as Redaction from "@devteam/runtime/Redaction"
import * as RepositoryProbe from "@devteam/runtime/RepositoryProbe"
import * as GitHttpServer from "@devteam/runtime/testing/GitHttpServer"
import {
  fileUrl,
  git,
  isAncestor,
  makeBareRemote,
  pushChange,
  refsOf,
  remoteFile,
  remoteHead,
  sampleTaskList,
  tempDir
} from "@devteam/runtime/testing/GitRemote"
import { author, workspaceConfig } from "@devteam/runtime/testing/TestWorkspace"
import { Workspace, type WorkspaceConfig } from "@devteam/runtime/Workspace"
import * as WorkspaceModule from "@devteam/runtime/Workspace"
import * as WorkspaceLocks from "@devteam/runtime/WorkspaceLocks"
import { assert, describe, it } from "@effect/vitest"
import {
  ConfigProvider,
  Deferred,
  Duration,
  Effect,
  Fiber,
  HashMap,
  Layer,
  Logger,
  LogLevel,
  Option,
  Redacted
} from "effect"
import { randomBytes } from "node:crypto"
import * as Fs from "node:fs"
import * as Path from "node:path"

/**
 * Builds the service against a fresh workspace dir; `secrets` seed the Redactor. With the
 * repository probe's `validate` over the same configuration (the gateway's side of a repository).
 */
const makeWorkspace = (workspaceDir: string, overrides: Partial<WorkspaceConfig> = {}, secrets: Array<string> = []) =>
  Effect.gen(function*() {
    const config = workspaceConfig(workspaceDir, overrides)
    const ws = yield* GitWorkspace.make(config)
    const probe = yield* RepositoryProbe.make(config)
    return { ...ws, validate: probe.validate }
  }).pipe(Effect.provide([Redaction.layerWith(secrets), WorkspaceLocks.layer]))

interface Fixture {
  readonly root: string
  readonly bare: string
  readonly url: string
  readonly workspaceDir: string
  readonly ws: Workspace["Type"] & Pick<RepositoryProbe.RepositoryProbe["Type"], "validate">
}

const fixture = (overrides: Partial<WorkspaceConfig> = {}) =>
  Effect.gen(function*() {
    const root = yield* tempDir()
    const bare = makeBareRemote({ root: Path.join(root, "remotes") })
    const workspaceDir = Path.join(root, "workspaces")
    const ws = yield* makeWorkspace(workspaceDir, overrides)
    return { root, bare, url: fileUrl(bare), workspaceDir, ws } satisfies Fixture
  })

const id = (s: string) => TaskId.make(s)

/** Lines logged while `self` runs (message + annotations), at every level. */
const captureLogs = <A, E, R>(self: Effect.Effect<A, E, R>, lines: Array<string>) => {
  const logger = Logger.make(({ annotations, logLevel, message }) => {
    const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
    const notes = JSON.stringify(Object.fromEntries(HashMap.toEntries(annotations)))
    lines.push(`${logLevel.label} ${text} ${notes}`)
  })
  return self.pipe(Logger.withMinimumLogLevel(LogLevel.All), Effect.provide(Logger.add(logger)))
}

const workTreeStatus = (repoPath: string) => git(repoPath, ["status", "--porcelain", "--untracked-files=all"])

const listFiles = (dir: string): Array<string> =>
  Fs.existsSync(dir)
    ? Fs.readdirSync(dir, { recursive: true, encoding: "utf8" }).map((f) => Path.join(dir, f))
    : []

/** Every process's command line (what `ps` shows), from /proc. */
const processCommandLines = (): Array<string> =>
  Fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p)).flatMap((pid) => {
    try {
      return [Fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ")]
    } catch {
      return []
    }
  })

/** Waits (up to 2 s) for a condition about the outside world, such as a killed process being gone. */
const eventually = (condition: () => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 100 && !condition(); i++) yield* Effect.sleep("20 millis")
    assert.isTrue(condition(), "condition not reached within 2 s")
  })

const tickRenderer = (taskId: string) => (source: string): string | null => {
  const pending = `- [ ] ${taskId} `
  const done = `- [x] ${taskId} `
  if (source.includes(done)) return source
  return source.includes(pending) ? source.replace(pending, done) : null
}

describe("Workspace", () => {
  it.scopedLive("cold clone, then warm fetch that sees the remote's new base", () =>
    Effect.gen(function*() {
      const { bare, url, workspaceDir, ws } = yield* fixture()
      const first = yield* ws.prepare({
        repoUrl: url,
        baseBranch: "main",
        taskId: id("1.1.1"),
        title: "Create the skeleton"
      })
      assert.isTrue(first.cloned)
      assert.isTrue(first.branchCreated)
      assert.strictEqual(first.branch, "task/1-1-1-create-the-skeleton")
      assert.strictEqual(first.repoPath, Path.join(workspaceDir, first.repoKey))
      assert.strictEqual(first.baseCommit, remoteHead(bare))
      assert.strictEqual(first.head, first.baseCommit)
      assert.strictEqual(git(first.repoPath, ["symbolic-ref", "--short", "HEAD"]).trim(), first.branch)
      assert.strictEqual(
        Fs.readFileSync(Path.join(first.repoPath, "docs/DevTeam/tasks_list.md"), "utf8"),
        sampleTaskList
      )
      // Only the workspace itself is left: the temporary clone directory was renamed into place.
      assert.deepStrictEqual(Fs.readdirSync(workspaceDir), [first.repoKey])

      const again = yield* ws.prepare({
        repoUrl: url,
        baseBranch: "main",
        taskId: id("1.1.1"),
        title: "Create the skeleton"
      })
      assert.isFalse(again.cloned)
      assert.isFalse(again.branchCreated)
      assert.deepStrictEqual({ ...again, cloned: true, branchCreated: true }, first)

      // A crash mid-fetch leaves ref locks behind; the next prep clears them.
      Fs.writeFileSync(Path.join(first.repoPath, ".git/refs/remotes/origin/main.lock"), "")
      Fs.writeFileSync(Path.join(first.repoPath, ".git/packed-refs.lock"), "")
      const newBase = pushChange({ remote: bare, files: { "NEW.md": "new\n" } })
      const next = yield* ws.prepare({ repoUrl: url, taskId: id("1.1.2"), title: "Add a README" })
      assert.isFalse(next.cloned)
      assert.isTrue(next.branchCreated)
      assert.strictEqual(next.baseBranch, "main")
      assert.strictEqual(next.baseCommit, newBase)
      assert.strictEqual(next.head, newBase)
      assert.isTrue(Fs.existsSync(Path.join(next.repoPath, "NEW.md")))

      // A cache git cannot read any more is dropped and cloned again.
      Fs.rmSync(Path.join(next.repoPath, ".git/objects"), { recursive: true, force: true })
      const healed = yield* ws.prepare({ repoUrl: url, baseBranch: "main", taskId: id("1.1.3"), title: "Healed" })
      assert.isTrue(healed.cloned)
      assert.strictEqual(healed.baseCommit, newBase)
      assert.strictEqual(workTreeStatus(healed.repoPath), "")
    }))

  it.scopedLive("sync clones or fetches without checking anything out, and sees the remote's new base", () =>
    Effect.gen(function*() {
      const { bare, url, ws } = yield* fixture()
      const first = yield* ws.sync({ repoUrl: url })
      assert.isTrue(first.cloned)
      assert.strictEqual(first.baseBranch, "main")
      assert.strictEqual(first.baseCommit, remoteHead(bare))
      const text = yield* ws.readTaskList({
        repoPath: first.repoPath,
        baseBranch: "main",
        path: "docs/DevTeam/tasks_list.md"
      })
      assert.strictEqual(Option.getOrNull(text), sampleTaskList)
      const newBase = pushChange({
        remote: bare,
        files: { "docs/DevTeam/tasks_list.md": sampleTaskList + "- [ ] 1.3 More\n" }
      })
      const second = yield* ws.sync({ repoUrl: url, baseBranch: "main" })
      assert.isFalse(second.cloned)
      assert.strictEqual(second.baseCommit, newBase)
      const updated = yield* ws.readTaskList({
        repoPath: second.repoPath,
        baseBranch: "main",
        path: "docs/DevTeam/tasks_list.md"
      })
      assert.include(Option.getOrElse(updated, () => ""), "1.3 More")
      const missing = yield* ws.sync({ repoUrl: url, baseBranch: "nope" }).pipe(Effect.flip)
      assert.strictEqual(missing._tag, "BranchNotFound")
    }))

  it.scopedLive("branch names from hostile titles are created as data, never executed", () =>
    Effect.gen(function*() {
      const { root, url, ws } = yield* fixture()
      const marker = Path.join(root, "pwned")
      const titles = [
        `$(touch ${marker})`,
        `\`touch ${marker}\`; rm -rf / && echo`,
        "--upload-pack=touch /tmp/x",
        "line\nbreak\u0000nul\ttab",
        "🚀 Émoji & ünïcödé «quotes» 'single' \"double\"",
        "refs/heads/main.lock..@{-1}",
        "x".repeat(10_000),
        "日本語"
      ]
      const branches = new Set<string>()
      for (const [i, title] of titles.entries()) {
        const result = yield* ws.prepare({ repoUrl: url, baseBranch: "main", taskId: id(`9.${i}`), title })
        assert.strictEqual(result.branch, branchName(id(`9.${i}`), title))
        assert.isAtMost(result.branch.length, 100)
        git(root, ["check-ref-format", "--branch", result.branch])
        assert.strictEqual(git(result.repoPath, ["symbolic-ref", "--short", "HEAD"]).trim(), result.branch)
        branches.add(result.branch)
      }
      assert.strictEqual(branches.size, titles.length)
      assert.isFalse(Fs.existsSync(marker))
    }))

  it.scopedLive("commitAll commits once, reports the diff vs base, and is a no-op on re-run", () =>
    Effect.gen(function*() {
      const { url, ws } = yield* fixture()
      const prep = yield* ws.prepare({ repoUrl: url, baseBranch: "main", taskId: id("1.2.1"), title: "Add login page" })
      const nothing = yield* ws.commitAll({
        repoPath: prep.repoPath,
        branch: prep.branch,
        baseBranch: "main",
        message: "x"
      })
      assert.isFalse(nothing.committed)
      assert.strictEqual(nothing.commit, prep.head)
      assert.deepStrictEqual(nothing.filesModified, [])

      Fs.mkdirSync(Path.join(prep.repoPath, "src/pages"), { recursive: true })
      Fs.writeFileSync(Path.join(prep.repoPath, "src/pages/login.js"), "export const login = 1\nexport const x = 2\n")
      Fs.appendFileSync(Path.join(prep.repoPath, "README.md"), "line three\n")
      const message = "task 1.2.1: Add login page #1 $(echo hi)"
      const first = yield* ws.commitAll({ repoPath: prep.repoPath, branch: prep.branch, baseBranch: "main", message })
      assert.isTrue(first.committed)
      assert.notStrictEqual(first.commit, prep.head)
      assert.deepStrictEqual([...first.filesModified].sort(), ["README.md", "src/pages/login.js"])
      assert.strictEqual(first.linesChanged, 3)
      assert.include(first.diff, "+export const login = 1")
      assert.isFalse(first.diffTruncated)
      assert.strictEqual(
        git(prep.repoPath, ["log", "-1", "--format=%an <%ae>|%cn|%B"]).trim(),
        `${author.name} <${author.email}>|${author.name}|${message}`
      )
      assert.strictEqual(workTreeStatus(prep.repoPath), "")

      const rerun = yield* ws.commitAll({ repoPath: prep.repoPath, branch: prep.branch, baseBranch: "main", message })
      assert.isFalse(rerun.committed)
      assert.strictEqual(rerun.commit, first.commit)
      assert.deepStrictEqual(rerun.filesModified, first.filesModified)
      assert.strictEqual(rerun.linesChanged, first.linesChanged)
      assert.strictEqual(git(prep.repoPath, ["rev-list", "--count", `main..${prep.branch}`]).trim(), "1")

      const summary = yield* ws.diffSummary({ repoPath: prep.repoPath, branch: prep.branch, baseBranch: "main" })
      assert.strictEqual(summary.linesChanged, 3)
      assert.isTrue(yield* ws.branchExists({ repoPath: prep.repoPath, branch: prep.branch }))
      assert.isFalse(yield* ws.branchExists({ repoPath: prep.repoPath, branch: "task/none" }))
      const missing = yield* Effect.flip(
        ws.commitAll({ repoPath: prep.repoPath, branch: "task/none", baseBranch: "main", message: "x" })
      )
      assert.strictEqual(missing._tag, "BranchNotFound")
      const outside = yield* Effect.flip(
        ws.commitAll({ repoPath: "/etc", branch: prep.branch, baseBranch: "main", message: "x" })
      )
      assert.strictEqual(outside._tag, "BadRequest")
      const onBase = yield* Effect.flip(
        ws.commitAll({ repoPath: prep.repoPath, branch: "main", baseBranch: "main", message: "x" })
      )
      assert.strictEqual(onBase._tag, "BadRequest")
      const badBranch = yield* Effect.flip(
        ws.commitAll({ repoPath: prep.repoPath, branch: "--force", baseBranch: "main", message: "x" })
      )
      assert.strictEqual(badBranch._tag, "BadRequest")
    }))

  it.scopedLive("merge --no-ff and push are idempotent, and survive a crash mid-merge", () =>
    Effect.gen(function*() {
      const { bare, url, ws } = yield* fixture()
      const prep = yield* ws.prepare({ repoUrl: url, baseBranch: "main", taskId: id("1.1.1"), title: "Skeleton" })
      Fs.writeFileSync(Path.join(prep.repoPath, "skeleton.txt"), "bones\n")
      const commit = yield* ws.commitAll({
        repoPath: prep.repoPath,
        branch: prep.branch,
        baseBranch: "main",
        message: "task 1.1.1: Skeleton"
      })

      const merged = yield* ws.merge({ repoPath: prep.repoPath, branch: prep.branch, baseBranch: "main" })
      assert.isFalse(merged.alreadyMerged)
      const parents = git(prep.repoPath, ["rev-list", "--parents", "-n", "1", merged.mergeCommit]).trim().split(" ")
      assert.deepStrictEqual(parents, [merged.mergeCommit, prep.baseCommit, commit.commit])
      const mergedAgain = yield* ws.merge({ repoPath: prep.repoPath, branch: prep.branch, baseBranch: "main" })
      assert.deepStrictEqual(mergedAgain, { mergeCommit: merged.mergeCommit, alreadyMerged: true })

      const pushed = yield* ws.push({ repoPath: prep.repoPath, baseBranch: "main" })
      assert.deepStrictEqual(pushed, { pushedCommit: merged.mergeCommit, alreadyPushed: false, rebased: false })
      assert.strictEqual(remoteHead(bare), merged.mergeCommit)
      const pushedAgain = yield* ws.push({ repoPath: prep.repoPath, baseBranch: "main" })
      assert.isTrue(pushedAgain.alreadyPushed)
      assert.strictEqual(remoteHead(bare), merged.mergeCommit)

      // A crash mid-merge leaves MERGE_HEAD and conflict markers behind; the next operation cleans up.
      const prep2 = yield* ws.prepare({ repoUrl: url, baseBranch: "main", taskId: id("1.1.2"), title: "Readme" })
      Fs.writeFileSync(Path.join(prep2.repoPath, "README.md"), "rewritten by task\n")
      yield* ws.commitAll({ repoPath: prep2.repoPath, branch: prep2.branch, baseBranch: "main", message: "t2" })
      git(prep2.repoPath, ["checkout", "--quiet", "-b", "scratch", "main"])
      Fs.writeFileSync(Path.join(prep2.repoPath, "README.md"), "rewritten on scratch\n")
      git(prep2.repoPath, ["commit", "--quiet", "-am", "scratch"])
      assert.throws(() => git(prep2.repoPath, ["merge", prep2.branch]))
      assert.isTrue(Fs.existsSync(Path.join(prep2.repoPath, ".git/MERGE_HEAD")))
      Fs.writeFileSync(Path.join(prep2.repoPath, ".git/index.lock"), "")
      const recovered = yield* ws.merge({ repoPath: prep2.repoPath, branch: prep2.branch, baseBranch: "main" })
      assert.isFalse(recovered.alreadyMerged)
      assert.strictEqual(workTreeStatus(prep2.repoPath), "")
      assert.isFalse(Fs.existsSync(Path.join(prep2.repoPath, ".git/MERGE_HEAD")))
    }))

  it.scopedLive("a merge conflict is a typed error naming the files, with the work tree left clean", () =>
    Effect.gen(function*() {
      const { bare, url, ws } = yield* fixture()
      const a = yield* ws.prepare({ repoUrl: url, baseBranch: "main", taskId: id("2.1"), title: "Edit readme" })
      Fs.writeFileSync(Path.join(a.repoPath, "README.md"), "# Sample\n\nline one CHANGED BY TASK\nline two\n")
      Fs.writeFileSync(Path.join(a.repoPath, "src/index.js"), "console.log(\"task\")\n")
      yield* ws.commitAll({ repoPath: a.repoPath, branch: a.branch, baseBranch: "main", message: "task 2.1" })
      pushChange({
        remote: bare,
        files: {
          "README.md": "# Sample\n\nline one CHANGED UPSTREAM\nline two\n",
          "src/index.js": "console.log(\"up\")\n"
        }
      })
      // Another prep fetches the new base, and the local base follows it.
      yield* ws.prepare({ repoUrl: url, baseBranch: "main", taskId: id("2.2"), title: "Other" })
      const before = git(a.repoPath, ["rev-parse", "refs/heads/main"]).trim()
      const error = yield* Effect.flip(ws.merge({ repoPath: a.repoPath, branch: a.branch, baseBranch: "main" }))
      if (error._tag !== "MergeConflict") return assert.fail(`expected MergeConflict, got ${error._tag}`)
      assert.deepStrictEqual([...error.files].sort(), ["README.md", "src/index.js"])
      assert.strictEqual(error.branch, a.branch)
      assert.include(error.message, "README.md")
      assert.strictEqual(workTreeStatus(a.repoPath), "")
      assert.isFalse(Fs.existsSync(Path.join(a.repoPath, ".git/MERGE_HEAD")))
      assert.strictEqual(git(a.repoPath, ["rev-parse", "refs/heads/main"]).trim(), before)
    }))

  it.scopedLive("refreshBranch rebases the task branch onto a moved base (a fix pushed while it FAILED); a conflict leaves it clean", () =>
    Effect.gen(function*() {
      const { bare, url, ws } = yield* fixture()
      const a = yield* ws.prepare({ repoUrl: url, baseBranch: "main", taskId: id("3.1"), title: "Add a file" })
      Fs.writeFileSync(Path.join(a.repoPath, "task.txt"), "task\n")
      const taskCommit = yield* ws.commitAll({
        repoPath: a.repoPath,
        branch: a.branch,
        baseBranch: "main",
        message: "task 3.1"
      })
      const unchanged = yield* ws.refreshBranch({ repoUrl: url, branch: a.branch, baseBranch: "main" })
      assert.isFalse(unchanged.updated)
      assert.strictEqual(unchanged.head, taskCommit.commit)
      const fix = pushChange({ remote: bare, files: { "fix.txt": "fixed\n" } })
      const refreshed = yield* ws.refreshBranch({ repoUrl: url, branch: a.branch, baseBranch: "main" })
      assert.isTrue(refreshed.updated)
      assert.strictEqual(
        git(a.repoPath, ["rev-parse", `${refreshed.head}~1`]).trim(),
        fix,
        "the task commit now sits on the fix"
      )
      assert.isTrue(Fs.existsSync(Path.join(a.repoPath, "fix.txt")))
      assert.isTrue(Fs.existsSync(Path.join(a.repoPath, "task.txt")))
      assert.strictEqual(
        git(a.repoPath, ["rev-list", "--merges", "--count", refreshed.head]).trim(),
        "0",
        "no merge commit"
      )
      // a base change that conflicts with the task commit: typed error, branch untouched, tree clean
      pushChange({ remote: bare, files: { "task.txt": "upstream\n" } })
      const error = yield* Effect.flip(ws.refreshBranch({ repoUrl: url, branch: a.branch, baseBranch: "main" }))
      if (error._tag !== "MergeConflict") return assert.fail(`expected MergeConflict, got ${error._tag}`)
      assert.deepStrictEqual([...error.files], ["task.txt"])
      assert.strictEqual(git(a.repoPath, ["rev-parse", `refs/heads/${a.branch}`]).trim(), refreshed.head)
      assert.strictEqual(workTreeStatus(a.repoPath), "")
    }))

  it.scopedLive("a push that loses the race is rebased once and retried; an unrebasable one is PushRejected", () =>
    Effect.gen(function*() {
      const { bare, url, ws } = yield* fixture()
      const prep = yield* ws.prepare({ repoUrl: url, baseBranch: "main", taskId: id("3.1"), title: "Feature" })
      Fs.writeFileSync(Path.join(prep.repoPath, "feature.txt"), "feature\n")
      yield* ws.commitAll({
        repoPath: prep.repoPath,
        branch: prep.branch,
        baseBranch: "main",
        message: "task 3.1: Feature"
      })
      const merged = yield* ws.merge({ repoPath: prep.repoPath, branch: prep.branch, baseBranch: "main" })
      const theirs = pushChange({
        remote: bare,
        files: { "other.txt": "someone else\n" },
        message: "They pushed first"
      })

      const pushed = yield* ws.push({ repoPath: prep.repoPath, baseBranch: "main" })
      assert.isFalse(pushed.alreadyPushed)
      assert.isTrue(pushed.rebased)
      assert.notStrictEqual(pushed.pushedCommit, merged.mergeCommit)
      assert.strictEqual(remoteHead(bare), pushed.pushedCommit)
      assert.isTrue(isAncestor(bare, theirs, pushed.pushedCommit))
      assert.strictEqual(remoteFile(bare, "feature.txt"), "feature\n")
      assert.strictEqual(remoteFile(bare, "other.txt"), "someone else\n")
      // The --no-ff merge survived the rebase.
      assert.strictEqual(
        git(bare, ["rev-list", "--parents", "-n", "1", pushed.pushedCommit]).trim().split(" ").length,
        3
      )
      assert.isTrue((yield* ws.push({ repoPath: prep.repoPath, baseBranch: "main" })).alreadyPushed)

      const prep2 = yield* ws.prepare({ repoUrl: url, baseBranch: "main", taskId: id("3.2"), title: "Conflict" })
      Fs.writeFileSync(Path.join(prep2.repoPath, "feature.txt"), "ours\n")
      yield* ws.commitAll({ repoPath: prep2.repoPath, branch: prep2.branch, baseBranch: "main", message: "task 3.2" })
      yield* ws.merge({ repoPath: prep2.repoPath, branch: prep2.branch, baseBranch: "main" })
      const upstream = pushChange({ remote: bare, files: { "feature.txt": "theirs\n" } })
      const error = yield* Effect.flip(ws.push({ repoPath: prep2.repoPath, baseBranch: "main" }))
      assert.strictEqual(error._tag, "PushRejected")
      assert.strictEqual(remoteHead(bare), upstream)
      assert.strictEqual(workTreeStatus(prep2.repoPath), "")
      assert.isFalse(Fs.existsSync(Path.join(prep2.repoPath, ".git/rebase-merge")))
    }))

  it.scopedLive("task list: read from the base branch, tick, commit and push, idempotently", () =>
    Effect.gen(function*() {
      const { bare, url, ws } = yield* fixture()
      const prep = yield* ws.prepare({ repoUrl: url, baseBranch: "main", taskId: id("1.1.1"), title: "Skeleton" })
      const path = "docs/DevTeam/tasks_list.md"
      // The work tree's copy is not what is read.
      Fs.writeFileSync(Path.join(prep.repoPath, path), "scribbled\n")
      const text = yield* ws.readTaskList({ repoPath: prep.repoPath, baseBranch: "main", path })
      assert.deepStrictEqual(text, Option.some(sampleTaskList))
      assert.deepStrictEqual(
        yield* ws.readTaskList({ repoPath: prep.repoPath, baseBranch: "main", path: "nope.md" }),
        Option.none()
      )
      const traversal = yield* Effect.flip(
        ws.readTaskList({ repoPath: prep.repoPath, baseBranch: "main", path: "../../etc/passwd" })
      )
      assert.strictEqual(traversal._tag, "BadRequest")

      const marked = yield* ws.markTaskCompleted({
        repoPath: prep.repoPath,
        baseBranch: "main",
        path,
        taskId: id("1.1.1"),
        render: tickRenderer("1.1.1")
      })
      assert.isTrue(marked.committed)
      assert.isFalse(marked.alreadyPushed)
      assert.strictEqual(remoteHead(bare), marked.commit)
      assert.include(remoteFile(bare, path), "- [x] 1.1.1 Create the project skeleton")
      assert.include(remoteFile(bare, path), "- [ ] 1.1.2 Add a README")
      assert.strictEqual(
        git(bare, ["log", "-1", "--format=%s|%an", "main"]).trim(),
        `1.1.1: mark completed|${author.name}`
      )
      assert.strictEqual(git(bare, ["diff", "--name-only", `${marked.commit}~1`, marked.commit]).trim(), path)

      const again = yield* ws.markTaskCompleted({
        repoPath: prep.repoPath,
        baseBranch: "main",
        path,
        taskId: id("1.1.1"),
        render: tickRenderer("1.1.1")
      })
      assert.deepStrictEqual(again, { committed: false, commit: marked.commit, alreadyPushed: true, rebased: false })
      const unknown = yield* Effect.flip(ws.markTaskCompleted({
        repoPath: prep.repoPath,
        baseBranch: "main",
        path,
        taskId: id("7.7.7"),
        render: tickRenderer("7.7.7")
      }))
      assert.strictEqual(unknown._tag, "TaskNotFound")
      assert.strictEqual(remoteHead(bare), marked.commit)
    }))

  it.scopedLive("validate: reachability, default branch and task list, writing nothing", () =>
    Effect.gen(function*() {
      const { bare, root, url, workspaceDir, ws } = yield* fixture()
      const refsBefore = refsOf(bare)
      const result = yield* ws.validate({ repoUrl: url })
      assert.isTrue(result.reachable)
      assert.strictEqual(result.defaultBranch, "main")
      assert.strictEqual(result.baseBranch, "main")
      assert.isTrue(result.baseBranchExists)
      assert.deepStrictEqual(result.taskList, { found: true, path: "docs/DevTeam/tasks_list.md", text: sampleTaskList })

      const otherPath = yield* ws.validate({ repoUrl: url, baseBranch: "main", taskListPath: "docs/none.md" })
      assert.deepStrictEqual(otherPath.taskList, { found: false, path: "docs/none.md" })
      const noBranch = yield* ws.validate({ repoUrl: url, baseBranch: "develop" })
      assert.isTrue(noBranch.reachable)
      assert.isFalse(noBranch.baseBranchExists)
      assert.include(noBranch.message ?? "", "develop")
      const missing = yield* ws.validate({ repoUrl: fileUrl(Path.join(root, "does-not-exist.git")) })
      assert.isFalse(missing.reachable)
      assert.isTrue(missing.accessDenied)
      assert.strictEqual(refsOf(bare), refsBefore)
      // No workspace was created or left behind.
      assert.deepStrictEqual(Fs.readdirSync(workspaceDir), [])
    }))

  it.scopedLive("bad repoUrls are refused before anything runs", () =>
    Effect.gen(function*() {
      const { root, workspaceDir, ws } = yield* fixture()
      const strict = yield* makeWorkspace(Path.join(root, "strict-workspaces"), { allowFile: false })
      const marker = Path.join(root, `pwned-${randomBytes(4).toString("hex")}`)
      const corpus = [
        `--upload-pack=touch ${marker}`,
        `ext::sh -c touch% ${marker}`,
        `https://user:hunter2-canary@example.com/repo.git`,
        `ssh://-oProxyCommand=touch%20${marker}/repo`,
        `$(touch ${marker})`,
        "https://example.com/repo\n--upload-pack=x",
        "relative/path"
      ]
      for (const repoUrl of corpus) {
        const error = yield* Effect.flip(ws.prepare({ repoUrl, baseBranch: "main", taskId: id("1"), title: "t" }))
        assert.strictEqual(error._tag, "InvalidRepoUrl", repoUrl)
        assert.notInclude(error.message, "hunter2-canary")
        const validation = yield* Effect.flip(ws.validate({ repoUrl }))
        assert.strictEqual(validation._tag, "InvalidRepoUrl")
      }
      const fileRefused = yield* Effect.flip(
        strict.prepare({ repoUrl: fileUrl(Path.join(root, "remotes/repo.git")), taskId: id("1"), title: "t" })
      )
      assert.strictEqual(fileRefused._tag, "InvalidRepoUrl")
      const pathRefused = yield* Effect.flip(strict.validate({ repoUrl: Path.join(root, "remotes/repo.git") }))
      assert.strictEqual(pathRefused._tag, "InvalidRepoUrl")
      assert.isFalse(Fs.existsSync(marker))
      assert.deepStrictEqual(listFiles(workspaceDir), [])
      assert.deepStrictEqual(listFiles(Path.join(root, "strict-workspaces")), [])
    }))

  it.scopedLive("a project's first work tree copies what the shared cache holds: the remote sends only what is new", () =>
    Effect.gen(function*() {
      const root = yield* tempDir()
      const serveRoot = Path.join(root, "served")
      // 1 MiB of base64 noise (about 790 KB packed): the size of a download says whether it came down
      const big = randomBytes(768 * 1024).toString("base64")
      const bare = makeBareRemote({
        root: serveRoot,
        name: "project.git",
        files: { "README.md": "# project\n", "assets/big.txt": big }
      })
      const server = yield* GitHttpServer.make({ root: serveRoot, username: "runner", password: "right-password" })
      const url = server.url("project.git")
      const settings = {
        allowFile: false,
        gitUsername: Option.some("runner"),
        credentials: [{ host: server.host, username: "runner", token: Redacted.make("right-password") }]
      }
      const downloaded = <A, E, R>(self: Effect.Effect<A, E, R>) =>
        Effect.gen(function*() {
          const before = server.bytesServed()
          const result = yield* self
          return { result, bytes: server.bytesServed() - before }
        })

      // No cache (a workspace of its own): the whole repository comes down.
      const alone = yield* makeWorkspace(Path.join(root, "alone"), settings)
      const cold = yield* downloaded(
        alone.prepare({ repoUrl: url, baseBranch: "main", taskId: id("1.1.1"), title: "Cold", project: "c/p0" })
      )
      assert.isTrue(cold.result.cloned)
      assert.isAbove(cold.bytes, 700_000)

      // SELECT's sync fills the shared cache; a commit lands on the remote after it; PREP then
      // clones the project's work tree: only the new commit comes down.
      const ws = yield* makeWorkspace(Path.join(root, "workspaces"), settings)
      yield* ws.sync({ repoUrl: url, baseBranch: "main" })
      const late = pushChange({ remote: bare, files: { "late.txt": "pushed after the cache's fetch\n" } })
      const warm = yield* downloaded(
        ws.prepare({ repoUrl: url, baseBranch: "main", taskId: id("1.1.1"), title: "Warm", project: "c/p1" })
      )
      assert.isTrue(warm.result.cloned)
      assert.isBelow(warm.bytes, 100_000)
      assert.strictEqual(warm.result.baseCommit, late)
      // The work tree owns every object (no alternates file pointing into the cache).
      const repo = warm.result.repoPath
      assert.isFalse(Fs.existsSync(Path.join(repo, ".git", "objects", "info", "alternates")))
      assert.strictEqual(git(repo, ["show", "origin/main:assets/big.txt"]).trim(), big)
      assert.strictEqual(git(repo, ["show", "origin/main:late.txt"]), "pushed after the cache's fetch\n")
      git(repo, ["fsck", "--no-dangling", "--connectivity-only"])
    }))

  it.scopedLive("projects on one repository clone from its shared cache side by side, each work tree whole", () =>
    Effect.gen(function*() {
      const root = yield* tempDir()
      const serveRoot = Path.join(root, "served")
      makeBareRemote({ root: serveRoot, name: "project.git", files: { "README.md": "# project\n", "src/a.ts": "a\n" } })
      // Once the cache is synced, each clone's first request to the remote is held until two clones
      // are at the remote at once: the clones of two projects must be in flight together (a clone
      // holding the cache to itself would leave the other waiting for it, and this for ever).
      let syncing = true
      let waiting: Array<() => void> = []
      let together = false
      const server = yield* GitHttpServer.make({
        root: serveRoot,
        username: "runner",
        password: "right-password",
        beforeServe: ({ method }) => {
          if (syncing || together || method !== "GET") return Promise.resolve()
          return new Promise<void>((resolve) => {
            waiting.push(resolve)
            if (waiting.length < 2) return
            together = true
            for (const release of waiting) release()
            waiting = []
          })
        }
      })
      const url = server.url("project.git")
      const ws = yield* makeWorkspace(Path.join(root, "workspaces"), {
        allowFile: false,
        gitUsername: Option.some("runner"),
        credentials: [{ host: server.host, username: "runner", token: Redacted.make("right-password") }]
      })
      yield* ws.sync({ repoUrl: url, baseBranch: "main" })
      syncing = false
      const prepared = yield* Effect.all(
        [1, 2].map((n) =>
          ws.prepare({ repoUrl: url, baseBranch: "main", taskId: id(`1.${n}`), title: `Task ${n}`, project: `c/p${n}` })
        ),
        { concurrency: "unbounded" }
      ).pipe(
        Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new Error("the clones ran one after another") })
      )
      assert.isTrue(together)
      for (const p of prepared) {
        assert.isTrue(p.cloned)
        assert.strictEqual(git(p.repoPath, ["show", "origin/main:src/a.ts"]), "a\n")
        assert.isFalse(Fs.existsSync(Path.join(p.repoPath, ".git", "objects", "info", "alternates")))
        git(p.repoPath, ["fsck", "--no-dangling", "--connectivity-only"])
      }
    }))

  it.scopedLive("a shared cache that lost its objects does not stop PREP: the work tree comes out whole", () =>
    Effect.gen(function*() {
      const root = yield* tempDir()
      const serveRoot = Path.join(root, "served")
      makeBareRemote({ root: serveRoot, name: "project.git", files: { "README.md": "# project\n", "src/a.ts": "a\n" } })
      const server = yield* GitHttpServer.make({ root: serveRoot, username: "runner", password: "right-password" })
      const url = server.url("project.git")
      const workspaces = Path.join(root, "workspaces")
      const ws = yield* makeWorkspace(workspaces, {
        allowFile: false,
        gitUsername: Option.some("runner"),
        credentials: [{ host: server.host, username: "runner", token: Redacted.make("right-password") }]
      })
      yield* ws.sync({ repoUrl: url, baseBranch: "main" })
      // The cache loses its objects (a disk fault, an interrupted write) while its refs still read
      // fine: the next project's work tree, cloned with the cache as reference, must still come
      // out whole.
      const caches = Fs.readdirSync(workspaces).filter((d) => Fs.existsSync(Path.join(workspaces, d, ".git", "HEAD")))
      assert.strictEqual(caches.length, 1)
      const objects = Path.join(workspaces, caches[0] ?? "", ".git", "objects")
      let damaged = 0
      for (const dir of Fs.readdirSync(objects)) {
        const full = Path.join(objects, dir)
        if (!Fs.statSync(full).isDirectory() || dir === "info") continue
        for (const file of Fs.readdirSync(full)) {
          if (dir === "pack" && !file.endsWith(".pack")) continue
          Fs.unlinkSync(Path.join(full, file))
          damaged++
        }
      }
      assert.isAbove(damaged, 0)

      const prepared = yield* ws.prepare({
        repoUrl: url,
        baseBranch: "main",
        taskId: id("1.1.1"),
        title: "Past a damaged cache",
        project: "c/p1"
      })
      assert.isTrue(prepared.cloned)
      assert.strictEqual(git(prepared.repoPath, ["show", "origin/main:src/a.ts"]), "a\n")
      assert.isFalse(Fs.existsSync(Path.join(prepared.repoPath, ".git", "objects", "info", "alternates")))
      git(prepared.repoPath, ["fsck", "--no-dangling"])
    }))

  it.scopedLive("smart HTTP with basic auth: the pipeline works, wrong credentials are refused", () =>
    Effect.gen(function*() {
      const root = yield* tempDir()
      const serveRoot = Path.join(root, "served")
      const bare = makeBareRemote({ root: serveRoot, name: "project.git" })
      const server = yield* GitHttpServer.make({ root: serveRoot, username: "runner", password: "right-password" })
      const url = server.url("project.git")
      const ws = yield* makeWorkspace(Path.join(root, "workspaces"), {
        allowFile: false,
        gitUsername: Option.some("runner"),
        credentials: [{ host: server.host, username: "runner", token: Redacted.make("right-password") }]
      })
      const prep = yield* ws.prepare({ repoUrl: url, baseBranch: "main", taskId: id("1.1.1"), title: "Over HTTP" })
      assert.isTrue(prep.cloned)
      Fs.writeFileSync(Path.join(prep.repoPath, "http.txt"), "via http\n")
      yield* ws.commitAll({ repoPath: prep.repoPath, branch: prep.branch, baseBranch: "main", message: "task 1.1.1" })
      const merged = yield* ws.merge({ repoPath: prep.repoPath, branch: prep.branch, baseBranch: "main" })
      const pushed = yield* ws.push({ repoPath: prep.repoPath, baseBranch: "main" })
      assert.strictEqual(pushed.pushedCommit, merged.mergeCommit)
      assert.strictEqual(remoteHead(bare), merged.mergeCommit)
      const validation = yield* ws.validate({ repoUrl: url })
      assert.isTrue(validation.reachable)
      assert.isTrue(validation.taskList.found)
      assert.isTrue(server.requests.some((r) => r.path.endsWith("/git-receive-pack") && r.status === 200))

      // A per-call token overrides the configured one: a wrong one is refused, the right one works.
      const prep2 = yield* ws.prepare({ repoUrl: url, baseBranch: "main", taskId: id("1.1.2"), title: "Second" })
      Fs.writeFileSync(Path.join(prep2.repoPath, "second.txt"), "second\n")
      yield* ws.commitAll({ repoPath: prep2.repoPath, branch: prep2.branch, baseBranch: "main", message: "task 1.1.2" })
      const merged2 = yield* ws.merge({ repoPath: prep2.repoPath, branch: prep2.branch, baseBranch: "main" })
      const denied = yield* Effect.flip(
        ws.push({ repoPath: prep2.repoPath, baseBranch: "main", token: Redacted.make("wrong") })
      )
      assert.strictEqual(denied._tag, "RepositoryAccessDenied")
      assert.strictEqual(remoteHead(bare), merged.mergeCommit)
      const pushed2 = yield* ws.push({
        repoPath: prep2.repoPath,
        baseBranch: "main",
        token: Redacted.make("right-password")
      })
      assert.strictEqual(pushed2.pushedCommit, merged2.mergeCommit)
      assert.strictEqual(remoteHead(bare), merged2.mergeCommit)

      // A server-side hook (branch protection) refusing the push: PushRejected at once, nothing changed.
      const hook = Path.join(bare, "hooks", "pre-receive")
      Fs.writeFileSync(hook, "#!/bin/sh\necho 'main is protected' >&2\nexit 1\n", { mode: 0o755 })
      const prep3 = yield* ws.prepare({ repoUrl: url, baseBranch: "main", taskId: id("1.1.3"), title: "Protected" })
      Fs.writeFileSync(Path.join(prep3.repoPath, "third.txt"), "third\n")
      yield* ws.commitAll({ repoPath: prep3.repoPath, branch: prep3.branch, baseBranch: "main", message: "task 1.1.3" })
      yield* ws.merge({ repoPath: prep3.repoPath, branch: prep3.branch, baseBranch: "main" })
      const protectedPush = yield* Effect.flip(ws.push({ repoPath: prep3.repoPath, baseBranch: "main" }))
      assert.strictEqual(protectedPush._tag, "PushRejected")
      assert.include(protectedPush.message, "refused")
      assert.strictEqual(remoteHead(bare), merged2.mergeCommit)
      Fs.rmSync(hook)

      const wrong = yield* makeWorkspace(Path.join(root, "workspaces-wrong"), {
        allowFile: false,
        gitUsername: Option.some("runner"),
        credentials: [{ host: server.host, username: "runner", token: Redacted.make("wrong-password") }]
      })
      const refused = yield* Effect.flip(
        wrong.prepare({ repoUrl: url, baseBranch: "main", taskId: id("1"), title: "t" })
      )
      assert.strictEqual(refused._tag, "RepositoryAccessDenied")
      const anonymous = yield* makeWorkspace(Path.join(root, "workspaces-anon"), { allowFile: false })
      const refusedAnon = yield* Effect.flip(
        anonymous.prepare({ repoUrl: url, baseBranch: "main", taskId: id("1"), title: "t" })
      )
      assert.strictEqual(refusedAnon._tag, "RepositoryAccessDenied")
      const unreachable = yield* anonymous.validate({ repoUrl: url })
      assert.isFalse(unreachable.reachable)
      assert.isTrue(unreachable.accessDenied)
      assert.isTrue(server.requests.some((r) => r.status === 401))
    }))

  it.scopedLive("a canary token never reaches .git, remote URLs, logs, results or error messages", () =>
    Effect.gen(function*() {
      const canary = `canary-${randomBytes(12).toString("hex")}`
      const basic = Buffer.from(`runner:${canary}`, "utf8").toString("base64")
      const root = yield* tempDir()
      const serveRoot = Path.join(root, "served")
      const bare = makeBareRemote({ root: serveRoot, name: "project.git" })
      // The first request is held open so that the git processes can be inspected while they run.
      const entered = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      let held = false
      const server = yield* GitHttpServer.make({
        root: serveRoot,
        username: "runner",
        password: canary,
        beforeServe: () => {
          if (held) return Promise.resolve()
          held = true
          return Effect.runPromise(Deferred.succeed(entered, undefined).pipe(Effect.zipRight(Deferred.await(release))))
        }
      })
      const otherRoot = Path.join(root, "other")
      makeBareRemote({ root: otherRoot, name: "project.git" })
      const refusing = yield* GitHttpServer.make({ root: otherRoot, username: "runner", password: "not-the-canary" })
      const url = server.url("project.git")
      // The Redactor starts empty: the Workspace must register the token itself.
      const ws = yield* makeWorkspace(Path.join(root, "workspaces"), {
        allowFile: false,
        gitUsername: Option.some("runner"),
        credentials: [
          { host: server.host, username: "runner", token: Redacted.make(canary) },
          { host: refusing.host, username: "runner", token: Redacted.make(canary) }
        ]
      })
      const lines: Array<string> = []
      const outputs = yield* captureLogs(
        Effect.gen(function*() {
          const cloning = yield* Effect.fork(
            ws.prepare({ repoUrl: url, baseBranch: "main", taskId: id("1.1.1"), title: "Canary" })
          )
          yield* Deferred.await(entered)
          const commandLines = processCommandLines()
          yield* Deferred.succeed(release, undefined)
          const prep = yield* Fiber.join(cloning)
          assert.isTrue(commandLines.some((c) => c.includes("git") && c.includes("clone")), "the clone was running")
          for (const c of commandLines) {
            assert.notInclude(c, canary, "canary in a process command line")
            assert.notInclude(c, basic, "encoded canary in a process command line")
          }
          Fs.writeFileSync(Path.join(prep.repoPath, "canary.txt"), "harmless\n")
          const commit = yield* ws.commitAll({
            repoPath: prep.repoPath,
            branch: prep.branch,
            baseBranch: "main",
            message: "c"
          })
          const merged = yield* ws.merge({ repoPath: prep.repoPath, branch: prep.branch, baseBranch: "main" })
          const pushed = yield* ws.push({ repoPath: prep.repoPath, baseBranch: "main" })
          const marked = yield* ws.markTaskCompleted({
            repoPath: prep.repoPath,
            baseBranch: "main",
            path: "docs/DevTeam/tasks_list.md",
            taskId: id("1.1.1"),
            render: tickRenderer("1.1.1")
          })
          const validated = yield* ws.validate({ repoUrl: url })
          const refused = yield* Effect.flip(
            ws.prepare({ repoUrl: refusing.url("project.git"), baseBranch: "main", taskId: id("1"), title: "t" })
          )
          const refusedValidation = yield* ws.validate({ repoUrl: refusing.url("project.git") })
          // The token inside a URL path shows up in git's own error text: it must be redacted there too.
          const echoed = yield* Effect.flip(
            ws.prepare({ repoUrl: server.url(`${canary}.git`), baseBranch: "main", taskId: id("1"), title: "t" })
          )
          assert.strictEqual(refused._tag, "RepositoryAccessDenied")
          assert.strictEqual(echoed._tag, "RepositoryAccessDenied")
          assert.include(echoed.message, Redaction.REDACTED)
          return {
            prep,
            commit,
            merged,
            pushed,
            marked,
            validated,
            refusedValidation,
            errors: [refused.message, echoed.message]
          }
        }),
        lines
      )
      assert.strictEqual(remoteHead(bare), outputs.marked.commit)
      assert.isTrue(lines.some((l) => l.includes("git fetch") || l.includes("git clone")))
      const repoPath = outputs.prep.repoPath
      const gitFiles = listFiles(Path.join(repoPath, ".git")).filter((f) => Fs.statSync(f).isFile())
      assert.isAbove(gitFiles.length, 10)
      const haystacks: Array<readonly [string, string]> = [
        ["results and errors", JSON.stringify(outputs)],
        ["logs", lines.join("\n")],
        ["remote -v", git(repoPath, ["remote", "-v"])],
        ["config", Fs.readFileSync(Path.join(repoPath, ".git/config"), "utf8")],
        ...gitFiles.map((f) => [f, Fs.readFileSync(f, "latin1")] as const)
      ]
      for (const [where, text] of haystacks) {
        assert.notInclude(text, canary, `canary found in ${where}`)
        assert.notInclude(text, basic, `encoded canary found in ${where}`)
      }
      // Credentials did reach the server (the pipeline ran over authenticated HTTP).
      assert.isTrue(server.requests.every((r) => r.authorized))
      assert.isTrue(refusing.requests.some((r) => r.status === 401))
    }))

  it.scopedLive("operations on one repository are serialised by its lock", () =>
    Effect.gen(function*() {
      const { url, ws } = yield* fixture()
      const lines: Array<string> = []
      const prepares = yield* captureLogs(
        Effect.all(
          [1, 2, 3, 4].map((n) =>
            ws.prepare({ repoUrl: url, baseBranch: "main", taskId: id(`5.${n}`), title: `Task ${n}` })
          ),
          { concurrency: "unbounded" }
        ),
        lines
      )
      // Cold cache, four concurrent preps: exactly one cloned, every branch exists.
      assert.strictEqual(prepares.filter((p) => p.cloned).length, 1)
      const repoPath = prepares[0]?.repoPath ?? ""
      const more = yield* captureLogs(
        Effect.all([
          ws.branchExists({ repoPath, branch: "task/5-1-task-1" }),
          ws.diffSummary({ repoPath, branch: "task/5-2-task-2", baseBranch: "main" }).pipe(Effect.as(true)),
          ws.readTaskList({ repoPath, baseBranch: "main", path: "docs/DevTeam/tasks_list.md" }).pipe(
            Effect.map(Option.isSome)
          ),
          ws.prepare({ repoUrl: url, baseBranch: "main", taskId: id("5.1"), title: "Task 1" }).pipe(Effect.as(true))
        ], { concurrency: "unbounded" }),
        lines
      )
      assert.deepStrictEqual(more, [true, true, true, true])
      for (const n of [1, 2, 3, 4]) git(repoPath, ["rev-parse", "--verify", `refs/heads/task/5-${n}-task-${n}`])
      const lockEvents = lines.filter((l) => l.includes("Workspace lock ")).map((l) =>
        l.includes("acquired") ? "A" : "R"
      )
      assert.strictEqual(lockEvents.join(""), "AR".repeat(8))
    }))

  it.scopedLive("cleanup removes idle workspaces that no active execution uses", () =>
    Effect.gen(function*() {
      const { root, url, workspaceDir, ws } = yield* fixture()
      const otherBare = makeBareRemote({ root: Path.join(root, "remotes"), name: "other.git" })
      const a = yield* ws.prepare({ repoUrl: url, baseBranch: "main", taskId: id("1"), title: "a" })
      const b = yield* ws.prepare({ repoUrl: fileUrl(otherBare), baseBranch: "main", taskId: id("1"), title: "b" })
      assert.strictEqual(yield* ws.repoKey(url), a.repoKey)
      const twoDaysAgo = new Date(Date.now() - 48 * 3600 * 1000)
      const staleTmp = Path.join(workspaceDir, ".tmp-clone-deadbeef-000000")
      Fs.mkdirSync(staleTmp)
      for (const dir of [a.repoPath, b.repoPath, staleTmp]) Fs.utimesSync(dir, twoDaysAgo, twoDaysAgo)
      Fs.writeFileSync(Path.join(workspaceDir, "not-a-workspace"), "kept")

      const first = yield* ws.cleanup({ olderThan: "24 hours", activeRepoKeys: [a.repoKey] })
      assert.deepStrictEqual(first, { removed: [b.repoKey], kept: [a.repoKey] })
      assert.isFalse(Fs.existsSync(b.repoPath))
      assert.isFalse(Fs.existsSync(staleTmp))
      assert.isTrue(Fs.existsSync(a.repoPath))
      assert.isTrue(Fs.existsSync(Path.join(workspaceDir, "not-a-workspace")))

      // Used again → fresh → kept; the old one, no longer active → removed.
      const b2 = yield* ws.prepare({ repoUrl: fileUrl(otherBare), baseBranch: "main", taskId: id("1"), title: "b" })
      assert.isTrue(b2.cloned)
      const second = yield* ws.cleanup({ olderThan: Duration.hours(24), activeRepoKeys: [] })
      assert.deepStrictEqual(second, { removed: [a.repoKey], kept: [b2.repoKey] })
      const empty = yield* makeWorkspace(Path.join(root, "never-created"))
      assert.deepStrictEqual(yield* empty.cleanup({ olderThan: "1 hour", activeRepoKeys: [] }), {
        removed: [],
        kept: []
      })
    }))

  it.scopedLive("cleanup never removes a workspace an operation holds", () =>
    Effect.gen(function*() {
      const root = yield* tempDir()
      const serveRoot = Path.join(root, "served")
      makeBareRemote({ root: serveRoot, name: "slow.git" })
      let holding = false
      const entered = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const server = yield* GitHttpServer.make({
        root: serveRoot,
        username: "u",
        password: "p",
        beforeServe: () =>
          holding
            ? Effect.runPromise(Deferred.succeed(entered, undefined).pipe(Effect.zipRight(Deferred.await(release))))
            : Promise.resolve()
      })
      const ws = yield* makeWorkspace(Path.join(root, "workspaces"), {
        allowFile: false,
        gitUsername: Option.some("u"),
        credentials: [{ host: server.host, username: "u", token: Redacted.make("p") }]
      })
      const url = server.url("slow.git")
      const prep = yield* ws.prepare({ repoUrl: url, baseBranch: "main", taskId: id("1"), title: "slow" })
      const twoDaysAgo = new Date(Date.now() - 48 * 3600 * 1000)
      Fs.utimesSync(prep.repoPath, twoDaysAgo, twoDaysAgo)
      holding = true
      const fiber = yield* Effect.fork(ws.prepare({ repoUrl: url, baseBranch: "main", taskId: id("2"), title: "slow" }))
      yield* Deferred.await(entered)
      // The warm fetch is in flight, holding the repository lock: cleanup must keep the workspace.
      const during = yield* ws.cleanup({ olderThan: "24 hours", activeRepoKeys: [] })
      assert.deepStrictEqual(during, { removed: [], kept: [prep.repoKey] })
      holding = false
      yield* Deferred.succeed(release, undefined)
      const second = yield* Fiber.join(fiber)
      assert.isFalse(second.cloned)
      assert.isTrue(Fs.existsSync(prep.repoPath))
    }))
  it.scopedLive("interruption and timeouts kill git, remove the partial clone and release the lock", () =>
    Effect.gen(function*() {
      const root = yield* tempDir()
      const serveRoot = Path.join(root, "served")
      makeBareRemote({ root: serveRoot, name: "slow.git" })
      let hold = true
      const release = yield* Deferred.make<void>()
      const entered = yield* Deferred.make<void>()
      const server = yield* GitHttpServer.make({
        root: serveRoot,
        username: "u",
        password: "p",
        beforeServe: () =>
          hold
            ? Effect.runPromise(Deferred.succeed(entered, undefined).pipe(Effect.zipRight(Deferred.await(release))))
            : Promise.resolve()
      })
      const workspaceDir = Path.join(root, "workspaces")
      const ws = yield* makeWorkspace(workspaceDir, {
        allowFile: false,
        gitUsername: Option.some("u"),
        credentials: [{ host: server.host, username: "u", token: Redacted.make("p") }]
      })
      const url = server.url("slow.git")
      const fiber = yield* Effect.fork(ws.prepare({ repoUrl: url, baseBranch: "main", taskId: id("1"), title: "t" }))
      yield* Deferred.await(entered)
      const cloning = () => processCommandLines().filter((c) => c.includes(`${workspaceDir}/.tmp-clone-`))
      assert.isAbove(cloning().length, 0)
      yield* Fiber.interrupt(fiber)
      yield* eventually(() => cloning().length === 0)
      assert.deepStrictEqual(Fs.readdirSync(workspaceDir), [])

      const impatient = yield* makeWorkspace(workspaceDir, {
        allowFile: false,
        gitUsername: Option.some("u"),
        credentials: [{ host: server.host, username: "u", token: Redacted.make("p") }],
        commandTimeout: Duration.millis(300)
      })
      const timedOut = yield* Effect.flip(
        impatient.prepare({ repoUrl: url, baseBranch: "main", taskId: id("1"), title: "t" })
      )
      assert.strictEqual(timedOut._tag, "GitOperationFailed")
      assert.include(timedOut.message, "timed out")
      yield* eventually(() => cloning().length === 0)
      assert.deepStrictEqual(Fs.readdirSync(workspaceDir), [])

      hold = false
      yield* Deferred.succeed(release, undefined)
      const ok = yield* ws.prepare({ repoUrl: url, baseBranch: "main", taskId: id("1"), title: "t" })
      assert.isTrue(ok.cloned)
    }))
  it.effect("WorkspaceConfig reads the environment with the documented defaults", () =>
    Effect.gen(function*() {
      const defaults = yield* WorkspaceModule.WorkspaceConfig.pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map()))
      )
      assert.strictEqual(defaults.workspaceDir, Path.resolve(".data/workspaces"))
      assert.isFalse(defaults.allowFile)
      assert.deepStrictEqual(defaults.credentials, [])
      assert.strictEqual(defaults.authorName, "DevTeam Runner")
      assert.strictEqual(defaults.authorEmail, "devteam-runner@localhost")

      const fromData = yield* WorkspaceModule.WorkspaceConfig.pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["DATA_DIR", "/srv/devteam"]])))
      )
      assert.strictEqual(fromData.workspaceDir, "/srv/devteam/workspaces")

      const explicit = yield* WorkspaceModule.WorkspaceConfig.pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(
          new Map([
            ["DATA_DIR", "/srv/devteam"],
            ["WORKSPACE_DIR", "/var/cache/ws"],
            ["REPO_ALLOW_FILE", "true"],
            ["GIT_USERNAME", "bot"],
            ["GIT_TOKEN", "tok-123456"],
            ["GIT_HOSTS", "git.example.com"],
            ["GIT_AUTHOR_NAME", "Bot"],
            ["GIT_AUTHOR_EMAIL", "bot@example.com"]
          ])
        ))
      )
      assert.strictEqual(explicit.workspaceDir, "/var/cache/ws")
      assert.isTrue(explicit.allowFile)
      assert.deepStrictEqual(explicit.gitUsername, Option.some("bot"))
      assert.deepStrictEqual(explicit.credentials.map((c) => [c.host, c.username]), [["git.example.com", "bot"]])
      assert.strictEqual(explicit.credentials.map((c) => Redacted.value(c.token)).join(), "tok-123456")
      assert.notInclude(String(explicit.credentials[0]?.token), "tok-123456")
      assert.strictEqual(explicit.authorEmail, "bot@example.com")

      const ws = yield* Workspace.pipe(
        Effect.provide(GitWorkspace.layerConfig.pipe(Layer.provide(Redaction.layerWith([])))),
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["WORKSPACE_DIR", "/var/cache/ws2"]])))
      )
      assert.strictEqual(ws.config.workspaceDir, "/var/cache/ws2")
    }))
})
