/**
 * A push the remote refuses keeps git's reason: a non-bare repository (a working copy with the
 * base branch checked out) as the remote prints its key line ("refusing to update checked out
 * branch") first and ten lines of advice after it; the error must still carry it.
 */
import { TaskId } from "@devteam/domain/Ids"
import { fileUrl, git, makeBareRemote, tempDir } from "@devteam/runtime/testing/GitRemote"
import { makeWorkspace } from "@devteam/runtime/testing/TestWorkspace"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"

describe("Workspace push errors", () => {
  it.scoped("a non-bare remote: merged locally, PUSH fails naming git's reason", () =>
    Effect.gen(function*() {
      const root = yield* tempDir()
      const bare = makeBareRemote({ root: Path.join(root, "remotes") })
      const working = Path.join(root, "working-copy")
      git(root, ["clone", "--quiet", "--", bare, working]) // non-bare, main checked out
      const ws = yield* makeWorkspace(Path.join(root, "workspaces"))
      const prepared = yield* ws.prepare({
        repoUrl: fileUrl(working),
        taskId: TaskId.make("1.1.1"),
        title: "Create the project skeleton"
      })
      Fs.writeFileSync(Path.join(prepared.repoPath, "new.txt"), "x\n")
      yield* ws.commitAll({
        repoPath: prepared.repoPath,
        branch: prepared.branch,
        baseBranch: prepared.baseBranch,
        message: "task 1.1.1"
      })
      yield* ws.merge({ repoPath: prepared.repoPath, branch: prepared.branch, baseBranch: prepared.baseBranch })
      const pushed = yield* Effect.flip(ws.push({ repoPath: prepared.repoPath, baseBranch: prepared.baseBranch }))
      assert.strictEqual(pushed._tag, "PushRejected")
      assert.include(pushed.message, "refusing to update checked out branch")
      assert.include(pushed.message, "branch is currently checked out")
    }))
})
