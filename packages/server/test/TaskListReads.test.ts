/**
 * Task-list reads and task edits over HTTP start no git process once the list is warm (a `git`
 * shim first on PATH counts them), answer with the commit they reflect, and `?refresh=true` reads
 * the remote now (a push shows at once). Real gateway + runner + cluster (embedded PGlite).
 */
import * as GitCounter from "@devteam/runtime/testing/GitCounter"
import { pushChange, remoteHead, sampleTaskList } from "@devteam/runtime/testing/GitRemote"
import { afterAll, assert, describe } from "@effect/vitest"
import { Effect } from "effect"
import * as H from "./fixtures/GatewayHarness.js"

// installed before the layer starts, so that every git the service runs goes through it
const counter = GitCounter.install()
afterAll(() => counter.restore())

/** git run in the service's work trees (not the test's own pushes). */
const serviceGit = () => counter.count("/workspaces/")

describe("task-list reads without git", () => {
  H.onServer({ jwt: false })((it) => {
    it.effect("warm: tasks, plan, next, task updates and injections start no git process; ?refresh=true fetches", () =>
      Effect.gen(function*() {
        const { repoUrl, url } = yield* H.TestServer
        const project = encodeURIComponent("acme/cached")
        const put = yield* H.request(`${url}/api/devteam/projects/${project}`, { method: "PUT", body: { repoUrl } })
        assert.strictEqual(put.status, 200, put.text)
        const cold = yield* H.request(`${url}/api/devteam/repository/tasks/${project}`)
        assert.strictEqual(cold.status, 200, cold.text)
        const commit = H.field(cold.body, "commit")
        assert.strictEqual(commit, remoteHead(repoUrl.replace(/^file:\/\//, "")))
        assert.isAbove(serviceGit(), 0, "the cold read ran git")

        const before = serviceGit()
        const started = Date.now()
        const updates = 30
        for (let i = 0; i < updates; i++) {
          const res = yield* H.request(`${url}/api/devteam/repository/tasks/${project}/1.2.1`, {
            method: "PUT",
            body: { title: `Title ${i}` }
          })
          assert.strictEqual(res.status, 200, res.text)
        }
        const elapsed = Date.now() - started
        const readsStarted = Date.now()
        const reads = yield* Effect.all(
          Array.from({ length: 20 }, (_, i) =>
            H.request(
              `${url}${
                [
                  `/api/devteam/repository/tasks/${project}`,
                  `/api/devteam/repository/plan/${project}`,
                  `/tasks/next?projectId=${project}`
                ][i % 3]
              }`
            )),
          { concurrency: 5 }
        )
        const readsElapsed = Date.now() - readsStarted
        for (const res of reads) {
          assert.strictEqual(res.status, 200, res.text)
          assert.strictEqual(H.field(res.body, "commit"), commit)
        }
        const inject = yield* H.request(`${url}/api/devteam/tasks/inject`, {
          method: "POST",
          body: { projectId: "acme/cached", task: { title: "Hotfix", description: "" }, mode: "priority" }
        })
        assert.strictEqual(inject.status, 200, inject.text)
        assert.strictEqual(serviceGit(), before, counter.lines().slice(-20).join("\n"))
        const tasks = yield* H.request(`${url}/api/devteam/repository/tasks/${project}`)
        const renamed = H.list(tasks.body, "tasks").find((t) => H.field(t, "id") === "1.2.1")
        assert.strictEqual(H.field(renamed, "title"), `Title ${updates - 1}`)
        console.log(
          `${updates} task title updates in ${elapsed} ms (${Math.round((updates * 1000) / elapsed)}/s); ` +
            `${reads.length} reads, 5 at a time, in ${readsElapsed} ms`
        )

        // a push is seen at once with ?refresh=true (and the response names the new commit)
        const pushed = pushChange({
          remote: repoUrl.replace(/^file:\/\//, ""),
          files: { "docs/DevTeam/tasks_list.md": `${sampleTaskList}  - [ ] 1.2.2 Add a logout page\n` }
        })
        const fresh = yield* H.request(`${url}/api/devteam/repository/tasks/${project}?refresh=true`)
        assert.strictEqual(fresh.status, 200, fresh.text)
        assert.strictEqual(H.field(fresh.body, "commit"), pushed)
        assert.include(H.list(fresh.body, "tasks").map((t) => H.field(t, "id")), "1.2.2")
        assert.isAbove(serviceGit(), before)
      }))
  })
})
