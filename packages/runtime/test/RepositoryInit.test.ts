/**
 * RepositoryInit against real git remotes (file:// and smart HTTP with basic auth): the template is
 * one commit on the base branch, pushed; an existing file is never overwritten (a second call, a
 * file someone else committed, or a concurrent writer); an empty repository gets a root commit.
 */
import { parse } from "@devteam/domain/TaskListParser"
import { taskListTemplate, taskListTemplateCommitMessage } from "@devteam/domain/TaskListTemplate"
import * as Redaction from "@devteam/runtime/Redaction"
import * as RepositoryInit from "@devteam/runtime/RepositoryInit"
import * as GitHttpServer from "@devteam/runtime/testing/GitHttpServer"
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
import { workspaceConfig } from "@devteam/runtime/testing/TestWorkspace"
import type { WorkspaceConfig } from "@devteam/runtime/Workspace"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"

const PATH = "docs/DevTeam/tasks_list.md"

const makeInit = (workspaceDir: string, overrides: Partial<WorkspaceConfig> = {}) =>
  RepositoryInit.make(workspaceConfig(workspaceDir, overrides)).pipe(Effect.provide(Redaction.layerWith([])))

const options = (repoUrl: string, baseBranch = "main") => ({
  repoUrl,
  baseBranch,
  path: PATH,
  text: taskListTemplate,
  message: taskListTemplateCommitMessage(PATH)
})

const commitCount = (bare: string, branch = "main") =>
  Number(git(bare, ["rev-list", "--count", `refs/heads/${branch}`]).trim())

describe("RepositoryInit", () => {
  it("the template parses without a diagnostic, and its one task is manual (skipped by automation)", () => {
    const list = parse(taskListTemplate)
    assert.deepStrictEqual(list.diagnostics, [])
    const atomic = list.tasks.filter((t) => t.type === "atomic")
    assert.deepStrictEqual(atomic.map((t) => [t.id, t.status]), [["1.1.1", "skipped"]])
    // the task-list guide shows this very text
    const guide = Fs.readFileSync(new URL("../../../docs/task-list.md", import.meta.url), "utf8")
    assert.include(guide, "```md\n" + taskListTemplate + "```\n")
  })

  it.scopedLive("commits the template as one commit on the base branch; a second call writes nothing", () =>
    Effect.gen(function*() {
      const root = yield* tempDir()
      const bare = makeBareRemote({ root: Path.join(root, "remotes"), files: { "README.md": "# app\n" } })
      const workspaceDir = Path.join(root, "workspaces")
      const init = yield* makeInit(workspaceDir)
      const before = remoteHead(bare)
      const first = yield* init.createFile(options(fileUrl(bare)))
      assert.isTrue(first.created)
      assert.strictEqual(remoteHead(bare), first.commit)
      assert.strictEqual(remoteFile(bare, PATH), taskListTemplate)
      assert.strictEqual(remoteFile(bare, "README.md"), "# app\n", "the rest of the tree is kept")
      assert.strictEqual(git(bare, ["rev-parse", `${first.commit}^`]).trim(), before, "one commit on the old tip")
      assert.strictEqual(
        git(bare, ["log", "-1", "--format=%s%n%an", first.commit]).trim(),
        `Add the DevTeam task list template (${PATH})\nDevTeam Test Runner`
      )
      const refs = refsOf(bare)
      const again = yield* init.createFile(options(fileUrl(bare)))
      assert.deepStrictEqual(again, { created: false, commit: first.commit })
      assert.strictEqual(refsOf(bare), refs)
      // nothing is left in the workspace directory
      assert.deepStrictEqual(Fs.readdirSync(workspaceDir), [])
    }))

  it.scopedLive("an existing file is never overwritten, whatever it holds", () =>
    Effect.gen(function*() {
      const root = yield* tempDir()
      const bare = makeBareRemote({ root: Path.join(root, "remotes"), files: { [PATH]: "- [ ] 1 Mine\n" } })
      const init = yield* makeInit(Path.join(root, "workspaces"))
      const refs = refsOf(bare)
      const result = yield* init.createFile(options(fileUrl(bare)))
      assert.deepStrictEqual(result, { created: false, commit: remoteHead(bare) })
      assert.strictEqual(refsOf(bare), refs)
      assert.strictEqual(remoteFile(bare, PATH), "- [ ] 1 Mine\n")
      // a directory at the path is not a file to write over either
      const dirBare = makeBareRemote({
        root: Path.join(root, "remotes"),
        name: "dir.git",
        files: { [`${PATH}/inner.md`]: "x\n" }
      })
      const dirRefs = refsOf(dirBare)
      const refused = yield* Effect.flip(init.createFile(options(fileUrl(dirBare))))
      assert.strictEqual(refused._tag, "BadRequest")
      assert.strictEqual(refsOf(dirBare), dirRefs)
    }))

  it.scopedLive("concurrent calls and a concurrent writer: exactly one template commit, nothing lost", () =>
    Effect.gen(function*() {
      const root = yield* tempDir()
      const bare = makeBareRemote({ root: Path.join(root, "remotes"), files: { "README.md": "# app\n" } })
      const init = yield* makeInit(Path.join(root, "workspaces"))
      const someoneElse = pushChange({ remote: bare, files: { "src/index.js": "export {}\n" } })
      const results = yield* Effect.all(
        Array.from({ length: 3 }, () => init.createFile(options(fileUrl(bare)))),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(results.filter((r) => r.created).length, 1)
      assert.strictEqual(commitCount(bare), 3, "initial commit, the other writer's, the template")
      assert.strictEqual(git(bare, ["rev-parse", `${remoteHead(bare)}^`]).trim(), someoneElse)
      assert.strictEqual(remoteFile(bare, PATH), taskListTemplate)
      assert.strictEqual(remoteFile(bare, "src/index.js"), "export {}\n")
    }))

  it.scopedLive("an empty repository gets a root commit on the base branch; a missing branch of a non-empty one is refused", () =>
    Effect.gen(function*() {
      const root = yield* tempDir()
      const empty = Path.join(root, "remotes", "empty.git")
      Fs.mkdirSync(empty, { recursive: true })
      git(empty, ["init", "--quiet", "--bare", "--initial-branch=main"])
      const init = yield* makeInit(Path.join(root, "workspaces"))
      const created = yield* init.createFile(options(fileUrl(empty), "trunk"))
      assert.isTrue(created.created)
      assert.strictEqual(remoteHead(empty, "trunk"), created.commit)
      assert.strictEqual(commitCount(empty, "trunk"), 1)
      assert.strictEqual(remoteFile(empty, PATH, "trunk"), taskListTemplate)

      const bare = makeBareRemote({ root: Path.join(root, "remotes") })
      const refs = refsOf(bare)
      const missing = yield* Effect.flip(init.createFile(options(fileUrl(bare), "develop")))
      assert.strictEqual(missing._tag, "BranchNotFound")
      assert.strictEqual(refsOf(bare), refs)
    }))

  it.scopedLive("over smart HTTP with the host's credentials; refused credentials change nothing", () =>
    Effect.gen(function*() {
      const root = yield* tempDir()
      const serveRoot = Path.join(root, "served")
      const bare = makeBareRemote({ root: serveRoot, name: "project.git", files: { "README.md": "# app\n" } })
      const server = yield* GitHttpServer.make({ root: serveRoot, username: "u", password: "secret-password-1" })
      const refs = refsOf(bare)
      const wrong = yield* makeInit(Path.join(root, "wrong"), {
        allowFile: false,
        credentials: [{ host: server.host, username: "u", token: Redacted.make("not-the-password") }]
      })
      const denied = yield* Effect.flip(wrong.createFile(options(server.url("project.git"))))
      assert.strictEqual(denied._tag, "RepositoryAccessDenied")
      assert.notInclude(denied.message, "not-the-password")
      assert.strictEqual(refsOf(bare), refs)

      const init = yield* makeInit(Path.join(root, "workspaces"), {
        allowFile: false,
        credentials: [{ host: server.host, username: "u", token: Redacted.make("secret-password-1") }]
      })
      const result = yield* init.createFile(options(server.url("project.git")))
      assert.isTrue(result.created)
      assert.strictEqual(remoteHead(bare), result.commit)
      assert.strictEqual(remoteFile(bare, PATH), taskListTemplate)
    }))
})
