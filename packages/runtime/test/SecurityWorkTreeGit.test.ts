/**
 * Security: a sandbox has the work tree read-write, `.git` included, and the host runs git there
 * after the tool step. What the sandbox writes into the git dir must not make the host's git run
 * anything: drivers (clean filter, merge driver) and includes in `.git/config`, attributes in
 * `.git/info/attributes`, a `.git` replaced by a symlink. Real git; a marker file is the proof that
 * a command ran.
 */
import { TaskId } from "@devteam/domain/Ids"
import * as GitWorkspace from "@devteam/runtime/GitWorkspace"
import * as Redaction from "@devteam/runtime/Redaction"
import { fileUrl, git, makeBareRemote, pushChange, refsOf, tempDir } from "@devteam/runtime/testing/GitRemote"
import * as WorkspaceLocks from "@devteam/runtime/WorkspaceLocks"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Option } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"

/** A workspace on a fresh bare remote, a prepared task branch, and where a hostile command would write. */
/** A Workspace on `root`'s workspaces; a second one on the same root is the service after a restart. */
const makeWorkspace = (root: string) =>
  GitWorkspace.make({
    workspaceDir: Path.join(root, "workspaces"),
    allowFile: true,
    gitUsername: Option.none(),
    credentials: [],
    authorName: "Test",
    authorEmail: "test@test.invalid",
    commandTimeout: Duration.seconds(60)
  }).pipe(Effect.provide([Redaction.layerWith([]), WorkspaceLocks.layer]))

const prepared = Effect.gen(function*() {
  const root = yield* tempDir()
  const bare = makeBareRemote({ root: Path.join(root, "remotes") })
  const ws = yield* makeWorkspace(root)
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
      const restarted = yield* makeWorkspace(root) // remembers no clone URL
      const pushed = yield* Effect.flip(restarted.push({ repoPath: task.repoPath, baseBranch: task.baseBranch }))
      assert.strictEqual(pushed._tag, "GitOperationFailed")
      assert.include(pushed.message, "origin URL was changed")
      const synced = yield* Effect.flip(restarted.sync({ repoUrl: fileUrl(bare), project: "p1" }))
      assert.strictEqual(synced._tag, "GitOperationFailed")
      assert.strictEqual(refsOf(other), "", "the changed origin received a push")
      // the same repository under another spelling of its URL is still its own origin
      git(task.repoPath, ["config", "remote.origin.url", `${fileUrl(bare)}/`])
      const again = yield* makeWorkspace(root)
      const result = yield* again.push({ repoPath: task.repoPath, baseBranch: task.baseBranch })
      assert.isTrue(result.alreadyPushed)
    }))
})
