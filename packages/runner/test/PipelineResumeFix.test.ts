/**
 * Fixing a failed task: push the fix to the remote's task branch (or to the base branch), then
 * resume. The runner must take the remote's newer task branch over its own stale copy. Real
 * entity, real pipeline, real bare git remote, a second clone pushing as a person would.
 */
import { Journal } from "@devteam/runtime/Journal"
import { git, isAncestor, remoteFile } from "@devteam/runtime/testing/GitRemote"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import {
  checkedLines,
  e2eConfig,
  finished,
  initializePayload,
  mergesOn,
  poll,
  storageLayer,
  withProject
} from "./fixtures/E2E.js"
import { appendScript, projectFiles } from "./fixtures/Pipeline.js"

const LIST = "docs/DevTeam/tasks_list.md"
const get = { correlationId: "resume-fix-probe" }

/** What a person does: clone, check out the task branch (or start it from main), commit, push. */
const pushToTaskBranch = (bare: string, branch: string, files: Readonly<Record<string, string>>): string => {
  const work = Fs.mkdtempSync(Path.join(Os.tmpdir(), "devteam-person-"))
  try {
    git(work, ["clone", "--quiet", "--", bare, "."])
    const published = git(work, ["ls-remote", "--heads", "origin", branch]).trim() !== ""
    git(work, published ? ["checkout", "--quiet", branch] : ["checkout", "--quiet", "-b", branch])
    for (const [file, content] of Object.entries(files)) {
      Fs.mkdirSync(Path.dirname(Path.join(work, file)), { recursive: true })
      Fs.writeFileSync(Path.join(work, file), content)
    }
    git(work, ["add", "--all"])
    git(work, ["commit", "--quiet", "-m", "fix pushed by a person"])
    git(work, ["push", "--quiet", "origin", `HEAD:refs/heads/${branch}`])
    return git(work, ["rev-parse", "HEAD"]).trim()
  } finally {
    Fs.rmSync(work, { recursive: true, force: true })
  }
}

// One journal for both tests (opening PGlite costs seconds): each has a project of its own.
layer(storageLayer, { excludeTestServices: true, timeout: "120 seconds" })(
  "resume picks up a fix pushed to the remote",
  (it) => {
    it.scoped(
      "VERIFY failed: the fix pushed to the task branch is verified, merged and pushed on resume",
      () =>
        withProject("fix-task-branch", projectFiles(), ({ project, projectId, remote }) =>
          Effect.gen(function*() {
            const journal = yield* Journal
            // The tool breaks the build of task 1.1.1 (the verify command fails on the BROKEN marker).
            const script = `if [ "$DEVTEAM_TASK_ID" = 1.1.1 ]; then echo '// BROKEN' >> src/app.js; fi; ${appendScript}`
            yield* project.Initialize(
              initializePayload(e2eConfig(remote.url, { script, verifyCommands: ["npm run build"] }))
            )
            const failed = yield* poll(project.GetState(get), finished)
            assert.strictEqual(failed.status, "FAILED")
            assert.strictEqual(failed.error?.step, "VERIFY")
            const branch = failed.branch
            assert.isNotNull(branch)
            if (branch === null) return
            // the broken work was published: the person fixes it on the task branch
            assert.include(remoteFile(remote.bare, "src/app.js", branch), "BROKEN")
            const fix = pushToTaskBranch(remote.bare, branch, { "src/app.js": "console.log(\"app\") // fixed\n" })

            yield* project.Resume(get)
            const final = yield* poll(project.GetState(get), finished)
            assert.strictEqual(final.status, "COMPLETED", final.error?.message ?? "")
            assert.deepStrictEqual(final.completedInExecution.map(String), ["1.1.1", "1.1.2"])
            assert.strictEqual(mergesOn(remote.bare).length, 2)
            assert.isTrue(isAncestor(remote.bare, fix, "refs/heads/main"), "the pushed fix is merged into main")
            assert.strictEqual(remoteFile(remote.bare, "src/app.js"), "console.log(\"app\") // fixed\n")
            assert.strictEqual(checkedLines(remoteFile(remote.bare, LIST)).length, 2)
            const entries = yield* journal.read(projectId, 0, 10_000)
            const logs = entries.flatMap((e) => e.event._tag === "LogBatch" ? e.event.lines.map((l) => l.message) : [])
            assert.isTrue(logs.some((l) => l.includes(`took ${branch} from the remote`)), "the pull is logged")
          })),
      { timeout: 120_000 }
    )

    it.scoped(
      "IMPLEMENT failed: the implementation pushed to the task branch is taken, the tool is not run again",
      () =>
        withProject("fix-implement", projectFiles(), ({ project, remote }) =>
          Effect.gen(function*() {
            // The tool cannot do task 1.1.1 at all; it does 1.1.2.
            const script =
              `if [ "$DEVTEAM_TASK_ID" = 1.1.1 ]; then echo 'cannot do this one' >&2; exit 4; fi; ${appendScript}`
            yield* project.Initialize(initializePayload(e2eConfig(remote.url, { script, verifyCommands: ["true"] })))
            const failed = yield* poll(project.GetState(get), finished)
            assert.strictEqual(failed.status, "FAILED")
            assert.strictEqual(failed.error?.step, "IMPLEMENT")
            const branch = failed.branch
            assert.isNotNull(branch)
            if (branch === null) return
            const fix = pushToTaskBranch(remote.bare, branch, { "notes/by-hand.txt": "done by a person\n" })

            yield* project.Resume(get)
            const final = yield* poll(project.GetState(get), finished)
            assert.strictEqual(final.status, "COMPLETED", final.error?.message ?? "")
            assert.deepStrictEqual(final.completedInExecution.map(String), ["1.1.1", "1.1.2"])
            assert.isTrue(isAncestor(remote.bare, fix, "refs/heads/main"), "the pushed implementation is merged")
            assert.strictEqual(remoteFile(remote.bare, "notes/by-hand.txt"), "done by a person\n")
            assert.strictEqual(remoteFile(remote.bare, "notes/task-1.1.2.txt"), "done 1.1.2\n")
          })),
      { timeout: 120_000 }
    )
  }
)
