/**
 * A new user's repository, through the real gateway (local-only mode) and real git remotes: an
 * execution or project that names no base branch uses the remote's default branch (a `master`
 * repository), and validate says why a repository is not valid.
 */
import { fileUrl, makeBareRemote } from "@devteam/runtime/testing/GitRemote"
import { assert, describe } from "@effect/vitest"
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as H from "./fixtures/GatewayHarness.js"

const masterRemote = () =>
  fileUrl(makeBareRemote({ root: Fs.mkdtempSync(Path.join(Os.tmpdir(), "devteam-master-")), branch: "master" }))

describe("base branch default", () => {
  H.onServer({ jwt: false, stepDuration: "30 millis" })((it) => {
    it.effect("initialize without baseBranch on a `master` repository runs on master", () =>
      Effect.gen(function*() {
        const { url } = yield* H.TestServer
        const repoUrl = masterRemote()
        const started = yield* H.request(`${url}/api/devteam/automation/initialize`, {
          method: "POST",
          body: { projectId: "base/master", repoUrl, tool: "script", script: "true" }
        })
        assert.strictEqual(started.status, 202, started.text)
        const config = yield* H.executionConfig(url, H.field(started.body, "executionId"))
        assert.strictEqual(H.field(config, "baseBranch"), "master")

        // a base branch given explicitly is kept
        yield* H.request(`${url}/api/devteam/automation/stop/base%2Fmaster`, { method: "POST" })
        const explicit = yield* H.request(`${url}/api/devteam/automation/initialize`, {
          method: "POST",
          body: { projectId: "base/explicit", repoUrl, baseBranch: "release", tool: "script", script: "true" }
        })
        assert.strictEqual(explicit.status, 202, explicit.text)
        assert.strictEqual(
          H.field(yield* H.executionConfig(url, H.field(explicit.body, "executionId")), "baseBranch"),
          "release"
        )
      }))

    it.effect("POST /events and PUT /projects without a base branch take the remote's default too", () =>
      Effect.gen(function*() {
        const { url } = yield* H.TestServer
        const repoUrl = masterRemote()
        const event = yield* H.request(`${url}/events`, {
          method: "POST",
          body: { workflow_type: "DEVTEAM_AUTOMATION", data: { projectId: "base/events", repoUrl } }
        })
        assert.strictEqual(event.status, 202, event.text)
        const config = yield* H.executionConfig(url, H.field(event.body, "task_id"))
        assert.strictEqual(H.field(config, "baseBranch"), "master")

        const project = yield* H.request(`${url}/api/devteam/projects/base%2Fput`, {
          method: "PUT",
          body: { repoUrl }
        })
        assert.strictEqual(project.status < 300, true, project.text)
        const stored = yield* H.request(`${url}/api/devteam/projects/base%2Fput`)
        assert.include(stored.text, "\"baseBranch\":\"master\"")
      }))
  })
})

describe("validate", () => {
  H.onServer({ jwt: false })((it) => {
    it.effect("an unreachable repository: reachable false with the reason", () =>
      Effect.gen(function*() {
        const { url } = yield* H.TestServer
        const missing = `file://${Path.join(Os.tmpdir(), "devteam-no-such-repo.git")}`
        const res = yield* H.request(`${url}/api/devteam/repository/validate`, {
          method: "POST",
          body: { repoUrl: missing }
        })
        assert.strictEqual(res.status, 200, res.text)
        assert.strictEqual(H.field(res.body, "reachable"), false)
        const message = H.field(res.body, "message")
        assert.isString(message)
        assert.match(String(message), /does not appear to be a git repository|not found|No such file/i)

        const ok = yield* H.request(`${url}/api/devteam/repository/validate`, {
          method: "POST",
          body: { repoUrl: masterRemote(), baseBranch: "nope" }
        })
        assert.strictEqual(H.field(ok.body, "reachable"), true)
        assert.include(String(H.field(ok.body, "message")), "Branch 'nope' does not exist on the remote")
      }))
  })
})
