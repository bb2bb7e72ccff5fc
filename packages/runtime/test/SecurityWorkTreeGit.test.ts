/**
 * Security: a sandbox has the work tree read-write, `.git` included, and the host runs git there
 * after the tool step. What the sandbox writes into the git dir must not make the host's git run
 * anything: drivers (clean filter, merge driver) and includes in `.git/config`, attributes in
 * `.git/info/attributes`, a `.git` replaced by a symlink. Real git; a marker file is the proof that
 * a command ran. The check reads `.git/config` (a git process) only when the file changed since it
 * was last found clean — a change that keeps its size and mtime included (ctime).
 */
import { TaskId } from "@devteam/domain/Ids"
import { fileUrl, git, makeBareRemote, pushChange, refsOf, tempDir } from "@devteam/runtime/testing/GitRemote"
import { makeWorkspace } from "@devteam/runtime/testing/TestWorkspace"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import type { ChildProcess } from "node:child_process"
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import { createRequire, syncBuiltinESMExports } from "node:module"
import * as Path from "node:path"

/** A Workspace on `root`'s workspaces; a second one on the same root is the service after a restart. */
const workspaceOn = (root: string) => makeWorkspace(Path.join(root, "workspaces"))

/** A workspace on a fresh bare remote, a prepared task branch, and where a hostile command would write. */
const prepared = Effect.gen(function*() {
  const root = yield* tempDir()
  const bare = makeBareRemote({ root: Path.join(root, "remotes") })
  const ws = yield* workspaceOn(root)
  const task = yield* ws.prepare({
    repoUrl: fileUrl(bare),
    project: "p1",
    taskId: TaskId.make("1.1.1"),
    title: "Create the project skeleton"
  })
  const marker = Path.join(root, "pwned")
  return { root, bare, ws, task, marker, gitDir: Path.join(task.repoPath, ".git") }
})

const appendConfig = (gitDir: string, text: string) => Fs.appendFileSync(Path.join(gitDir, "config"), text)

/**
 * Counts the `git config … --list` processes (the git dir check reading `.git/config`) spawned
 * while the scope is open: node's builtin is patched in place and its ESM bindings re-synced, so
 * the runtime's own `spawn` calls are seen.
 */
const countConfigReads = Effect.acquireRelease(
  Effect.sync(() => {
    const childProcess: typeof import("node:child_process") = createRequire(import.meta.url)("node:child_process")
    const original = childProcess.spawn
    const counter = { reads: 0, restore: () => {} }
    const patched = (...args: Array<unknown>): ChildProcess => {
      const argv = Array.isArray(args[1]) ? args[1].map(String) : []
      if (argv.includes("config") && argv.includes("--list")) counter.reads += 1
      return Reflect.apply(original, childProcess, args)
    }
    Reflect.set(childProcess, "spawn", patched)
    syncBuiltinESMExports()
    counter.restore = () => {
      Reflect.set(childProcess, "spawn", original)
      syncBuiltinESMExports()
    }
    return counter
  }),
  (counter) => Effect.sync(() => counter.restore())
)

const identityOf = (file: string) => {
  const s = Fs.statSync(file, { bigint: true })
  return { ino: s.ino, size: s.size, mtimeNs: s.mtimeNs }
}

describe("Security: the git dir a sandbox could write", () => {
  it.scoped("a clean filter (config + .gitattributes) and an included config do not run; the commit happens", () =>
    Effect.gen(function*() {
      const { bare, gitDir, marker, root, task, ws } = yield* prepared
      const included = Path.join(root, "included.cfg")
      Fs.writeFileSync(included, `[filter "y"]\n\tclean = sh -c 'touch ${marker}-include; cat'\n`)
      appendConfig(
        gitDir,
        `[filter "x"]\n\tclean = sh -c 'touch ${marker}; cat'\n\trequired = true\n[include]\n\tpath = ${included}\n`
      )
      Fs.writeFileSync(Path.join(task.repoPath, ".gitattributes"), "*.txt filter=x\n*.md filter=y\n")
      Fs.writeFileSync(Path.join(task.repoPath, "new.txt"), "work\n")
      Fs.writeFileSync(Path.join(task.repoPath, "notes.md"), "more work\n")
      const result = yield* ws.commitAll({
        repoPath: task.repoPath,
        branch: task.branch,
        baseBranch: task.baseBranch,
        message: "task 1.1.1"
      })
      assert.isTrue(result.committed)
      assert.includeMembers([...result.filesModified], [".gitattributes", "new.txt", "notes.md"])
      assert.isFalse(Fs.existsSync(marker), "the clean filter ran on the host")
      assert.isFalse(Fs.existsSync(`${marker}-include`), "the included config's filter ran on the host")
      const config = Fs.readFileSync(Path.join(gitDir, "config"), "utf8")
      assert.notInclude(config, "filter")
      assert.notInclude(config, "include")
      // what the service itself needs is kept
      assert.strictEqual(git(task.repoPath, ["config", "--get", "remote.origin.url"]).trim(), fileUrl(bare))
      assert.strictEqual(
        git(task.repoPath, ["config", "--get", "remote.origin.fetch"]).trim(),
        "+refs/heads/*:refs/remotes/origin/*"
      )
      assert.strictEqual(git(task.repoPath, ["show", "HEAD:new.txt"]), "work\n")
    }))

  it.scoped("a merge driver from config + .git/info/attributes does not run when the branch is refreshed", () =>
    Effect.gen(function*() {
      const { bare, gitDir, marker, task, ws } = yield* prepared
      Fs.writeFileSync(Path.join(task.repoPath, "README.md"), "# Sample\n\ntask's line one\nline two\n")
      yield* ws.commitAll({
        repoPath: task.repoPath,
        branch: task.branch,
        baseBranch: task.baseBranch,
        message: "task 1.1.1"
      })
      pushChange({ remote: bare, files: { "README.md": "# Sample\n\nsomeone else's line one\nline two\n" } })
      // planted by a later tool step, after the commit
      appendConfig(gitDir, `[merge "x"]\n\tdriver = sh -c 'touch ${marker}; cp %B %A'\n`)
      Fs.mkdirSync(Path.join(gitDir, "info"), { recursive: true })
      Fs.writeFileSync(Path.join(gitDir, "info", "attributes"), "* merge=x\n")
      const refreshed = yield* Effect.flip(ws.refreshBranch({
        repoUrl: fileUrl(bare),
        project: "p1",
        branch: task.branch,
        baseBranch: task.baseBranch
      }))
      assert.isFalse(Fs.existsSync(marker), "the merge driver ran on the host")
      assert.strictEqual(refreshed._tag, "MergeConflict") // git's own merge, without the driver
      assert.isFalse(Fs.existsSync(Path.join(gitDir, "info", "attributes")))
    }))

  it.scoped("an unchanged .git/config is not read again (no git process); a changed one is, and cleaned", () =>
    Effect.gen(function*() {
      const { gitDir, marker, task, ws } = yield* prepared
      const commit = (file: string) =>
        Effect.gen(function*() {
          Fs.writeFileSync(Path.join(task.repoPath, file), `${file}\n`)
          return yield* ws.commitAll({
            repoPath: task.repoPath,
            branch: task.branch,
            baseBranch: task.baseBranch,
            message: file
          })
        })
      yield* commit("a.txt") // the first operation after prepare may find git's own config writes
      const counter = yield* countConfigReads
      yield* commit("b.txt")
      yield* ws.diffSummary({ repoPath: task.repoPath, branch: task.branch, baseBranch: task.baseBranch })
      assert.strictEqual(counter.reads, 0, "an unchanged config was read again")
      appendConfig(gitDir, `[filter "x"]\n\tclean = sh -c 'touch ${marker}; cat'\n`)
      Fs.writeFileSync(Path.join(task.repoPath, ".gitattributes"), "*.txt filter=x\n")
      yield* commit("c.txt")
      assert.strictEqual(counter.reads, 1)
      assert.isFalse(Fs.existsSync(marker), "the clean filter ran on the host")
      assert.notInclude(Fs.readFileSync(Path.join(gitDir, "config"), "utf8"), "filter")
    }))

  it.scoped("a config rewritten in place with its size and mtime kept is still read (ctime) and cleaned", () =>
    Effect.gen(function*() {
      const { gitDir, marker, task, ws } = yield* prepared
      const config = Path.join(gitDir, "config")
      const filter = `[filter "x"]\n\tclean = sh -c 'touch ${marker}; cat'\n`
      // room for the filter in a comment, so that it fits in without changing the size
      Fs.appendFileSync(config, `# ${"-".repeat(filter.length - 3)}\n`)
      const commit = (file: string) =>
        Effect.gen(function*() {
          Fs.writeFileSync(Path.join(task.repoPath, file), `${file}\n`)
          return yield* ws.commitAll({
            repoPath: task.repoPath,
            branch: task.branch,
            baseBranch: task.baseBranch,
            message: file
          })
        })
      yield* commit("a.txt") // found clean (a comment is no key) and remembered
      const reference = `${config}.reference`
      execFileSync("cp", ["--preserve=timestamps", config, reference])
      const before = identityOf(config)
      const text = Fs.readFileSync(config, "utf8")
      const tampered = text.slice(0, text.lastIndexOf("# ")) + filter
      assert.strictEqual(Buffer.byteLength(tampered), Number(before.size))
      Fs.writeFileSync(config, tampered) // in place: same inode
      execFileSync("touch", ["-r", reference, config])
      Fs.rmSync(reference)
      assert.deepStrictEqual(identityOf(config), before, "the tampered config looks unchanged but for its ctime")
      Fs.writeFileSync(Path.join(task.repoPath, ".gitattributes"), "*.txt filter=x\n")
      yield* commit("b.txt")
      assert.isFalse(Fs.existsSync(marker), "the clean filter ran on the host")
      assert.notInclude(Fs.readFileSync(config, "utf8"), "filter")
    }))

  it.scoped("a .git replaced by a symlink: a clear error, no git run in it", () =>
    Effect.gen(function*() {
      const { gitDir, marker, task, ws } = yield* prepared
      const elsewhere = `${gitDir}-elsewhere`
      Fs.renameSync(gitDir, elsewhere)
      Fs.symlinkSync(elsewhere, gitDir)
      appendConfig(elsewhere, `[filter "x"]\n\tclean = sh -c 'touch ${marker}; cat'\n`)
      Fs.writeFileSync(Path.join(task.repoPath, ".gitattributes"), "* filter=x\n")
      Fs.writeFileSync(Path.join(task.repoPath, "new.txt"), "work\n")
      const error = yield* Effect.flip(ws.commitAll({
        repoPath: task.repoPath,
        branch: task.branch,
        baseBranch: task.baseBranch,
        message: "task 1.1.1"
      }))
      assert.strictEqual(error._tag, "GitOperationFailed")
      assert.include(error.message, ".git is not a directory")
      assert.isFalse(Fs.existsSync(marker), "git ran in the redirected git dir")
    }))

  it.scoped("an origin URL changed in the work tree, after a restart: nothing is pushed to (or fetched from) it", () =>
    Effect.gen(function*() {
      const { bare, root, task } = yield* prepared
      const other = Path.join(root, "remotes", "other.git")
      Fs.mkdirSync(other, { recursive: true })
      git(other, ["init", "--quiet", "--bare"])
      git(task.repoPath, ["config", "remote.origin.url", fileUrl(other)])
      const restarted = yield* workspaceOn(root) // remembers no clone URL
      const pushed = yield* Effect.flip(restarted.push({ repoPath: task.repoPath, baseBranch: task.baseBranch }))
      assert.strictEqual(pushed._tag, "GitOperationFailed")
      assert.include(pushed.message, "origin URL was changed")
      const synced = yield* Effect.flip(restarted.sync({ repoUrl: fileUrl(bare), project: "p1" }))
      assert.strictEqual(synced._tag, "GitOperationFailed")
      assert.strictEqual(refsOf(other), "", "the changed origin received a push")
      // the same repository under another spelling of its URL is still its own origin
      git(task.repoPath, ["config", "remote.origin.url", `${fileUrl(bare)}/`])
      const again = yield* workspaceOn(root)
      const result = yield* again.push({ repoPath: task.repoPath, baseBranch: task.baseBranch })
      assert.isTrue(result.alreadyPushed)
    }))
})
