/**
 * Registering a project whose repository has no task list, through the real gateway (local-only
 * mode) and real git remotes: `createTaskList: true` commits the documented template on the base
 * branch as one commit and pushes it, never over an existing file; the project view reports the
 * list with the parser's diagnostics by line; bad input changes nothing.
 */
import { taskListTemplate } from "@devteam/domain/TaskListTemplate"
import { fileUrl, git, makeBareRemote, refsOf, remoteFile, remoteHead } from "@devteam/runtime/testing/GitRemote"
import { assert, describe } from "@effect/vitest"
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as H from "./fixtures/GatewayHarness.js"

const PATH = "docs/DevTeam/tasks_list.md"

const remote = (files: Record<string, string>) =>
  makeBareRemote({ root: Fs.mkdtempSync(Path.join(Os.tmpdir(), "devteam-init-")), files })

describe("repository initialisation", () => {
  H.onServer({ jwt: false })((it) => {
    it.effect("PUT with createTaskList commits the template once; the view reports it", () =>
      Effect.gen(function*() {
        const { url } = yield* H.TestServer
        const bare = remote({ "README.md": "# app\n" })
        const before = remoteHead(bare)
        const put = (body: Record<string, unknown>) =>
          H.request(`${url}/api/devteam/projects/init%2Fnew`, { method: "PUT", body })
        const first = yield* put({ repoUrl: fileUrl(bare), createTaskList: true })
        assert.strictEqual(first.status, 200, first.text)
        assert.deepStrictEqual(H.field(first.body, "taskList"), {
          path: PATH,
          found: true,
          created: true,
          totalTasks: 1,
          completedTasks: 1,
          errors: []
        })
        assert.strictEqual(remoteFile(bare, PATH), taskListTemplate)
        assert.strictEqual(git(bare, ["rev-parse", `${remoteHead(bare)}^`]).trim(), before, "one commit")
        // the registered project reads it (its one task is manual: nothing for automation to do)
        const tasks = yield* H.request(`${url}/api/devteam/repository/tasks/init%2Fnew?refresh=true`)
        assert.strictEqual(tasks.status, 200, tasks.text)
        assert.include(tasks.text, "1.1.1")

        // again: nothing is written, the answer says so
        const refs = refsOf(bare)
        const again = yield* put({ repoUrl: fileUrl(bare), createTaskList: true })
        assert.strictEqual(again.status, 200, again.text)
        assert.strictEqual(H.field(H.field(again.body, "taskList"), "created"), false)
        assert.strictEqual(refsOf(bare), refs)

        // without createTaskList the answer has no taskList and nothing is read
        const plain = yield* put({ repoUrl: fileUrl(bare) })
        assert.strictEqual(plain.status, 200, plain.text)
        assert.isUndefined(H.field(plain.body, "taskList"))
      }))

    it.effect("an existing list is kept, and its diagnostics come back with line numbers", () =>
      Effect.gen(function*() {
        const { url } = yield* H.TestServer
        const mine = "# Tasks\n\nPhase 1: Mine\n\n- 1.1 Group\n  - [?] 1.1.1 A task\n  - [ ] 1.1.2\n"
        const bare = remote({ [PATH]: mine })
        const refs = refsOf(bare)
        const res = yield* H.request(`${url}/api/devteam/projects/init%2Fmine`, {
          method: "PUT",
          body: { repoUrl: fileUrl(bare), createTaskList: true }
        })
        assert.strictEqual(res.status, 200, res.text)
        assert.strictEqual(refsOf(bare), refs, "nothing written")
        assert.strictEqual(remoteFile(bare, PATH), mine)
        const list = H.field(res.body, "taskList")
        assert.strictEqual(H.field(list, "created"), false)
        assert.strictEqual(H.field(list, "found"), true)
        const lines = H.list(list, "errors").map((e) => H.field(e, "line"))
        assert.deepStrictEqual(lines, [6, 7])

        // GET reads it on request only
        const plain = yield* H.request(`${url}/api/devteam/projects/init%2Fmine`)
        assert.isUndefined(H.field(plain.body, "taskList"))
        const withList = yield* H.request(`${url}/api/devteam/projects/init%2Fmine?taskList=true`)
        assert.strictEqual(withList.status, 200, withList.text)
        assert.deepStrictEqual(H.field(withList.body, "taskList"), list)
      }))

    it.effect("bad input and a missing branch change nothing", () =>
      Effect.gen(function*() {
        const { url } = yield* H.TestServer
        const bare = remote({ "README.md": "# app\n" })
        const refs = refsOf(bare)
        const badFlag = yield* H.request(`${url}/api/devteam/projects/init%2Fbad`, {
          method: "PUT",
          body: { repoUrl: fileUrl(bare), createTaskList: "yes" }
        })
        assert.strictEqual(badFlag.status, 400, badFlag.text)
        const badPath = yield* H.request(`${url}/api/devteam/projects/init%2Fbad`, {
          method: "PUT",
          body: { repoUrl: fileUrl(bare), createTaskList: true, taskListPath: "../outside.md" }
        })
        assert.strictEqual(badPath.status, 400, badPath.text)
        const noBranch = yield* H.request(`${url}/api/devteam/projects/init%2Fbad`, {
          method: "PUT",
          body: { repoUrl: fileUrl(bare), baseBranch: "develop", createTaskList: true }
        })
        assert.strictEqual(noBranch.status, 404, noBranch.text)
        assert.strictEqual(refsOf(bare), refs)
        // none of them registered the project
        const view = yield* H.request(`${url}/api/devteam/projects/init%2Fbad`)
        assert.strictEqual(view.status, 404, view.text)
      }))
  })
})
