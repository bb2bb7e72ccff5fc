/**
 * Git remote faults, on a real service process (throwaway Postgres, local sandbox, script tool) and
 * a real git smart-HTTP server (git-http-backend) that the test makes misbehave:
 * - mid-fetch: the next two fetch requests (git-upload-pack) after initialize are cut (connection
 *   destroyed, as a remote going down): retried inside the step, the execution goes on;
 * - mid-push: every push (git-receive-pack) is refused with 503: the step retries with a growing
 *   backoff (PIPELINE_RETRY_BASE=200 millis, PIPELINE_INFRA_RETRIES=2), then the step that pushes
 *   fails with category `git`; the execution is FAILED and resumable; once the remote accepts pushes again, resume
 *   completes it with the task merged exactly once on the remote.
 */
import * as GitHttpServer from "@devteam/runtime/testing/GitHttpServer"
import { git, makeBareRemote } from "@devteam/runtime/testing/GitRemote"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { randomUUID } from "node:crypto"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as FaultService from "./fixtures/FaultService.js"

const { post, request } = FaultService
const PASSWORD = "fault-git-password-2468"

describe("git remote faults (real git HTTP server, real service process)", () => {
  it.scopedLive(
    "fetch cut mid-step: retried; push refused: classified git, backoff, FAILED, resumable",
    () =>
      Effect.gen(function*() {
        let cutFetches = 0
        let refusePush = true
        const cut: Array<number> = []
        const refused: Array<number> = []
        const servedRoot = yield* Effect.acquireRelease(
          Effect.sync(() => Path.join("/tmp", `devteam-git-fault-${randomUUID().slice(0, 8)}`)),
          (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
        )
        const bare = makeBareRemote({ root: servedRoot, name: "project.git" })
        const server = yield* GitHttpServer.make({
          root: servedRoot,
          username: "runner",
          password: PASSWORD,
          beforeServe: ({ method, path }) => {
            if (path.endsWith("git-upload-pack") && cutFetches > 0) {
              cutFetches--
              cut.push(Date.now())
              return Promise.reject(new Error("remote down"))
            }
            if (method === "POST" && path.endsWith("/git-receive-pack") && refusePush) {
              refused.push(Date.now())
              return Promise.reject(new Error("refusing pushes"))
            }
            return Promise.resolve()
          }
        })
        const service = yield* FaultService.make({
          env: {
            GIT_USERNAME: "runner",
            GIT_TOKEN: PASSWORD,
            GIT_HOSTS: server.host,
            // the test's git server listens on 127.0.0.1
            REPO_ALLOW_PRIVATE: "true",
            PIPELINE_RETRY_BASE: "200 millis",
            PIPELINE_INFRA_RETRIES: "2"
          }
        })
        const { automation, wait } = service
        const p = `git-${randomUUID().slice(0, 8)}`
        yield* service.initialize({
          projectId: p,
          repoUrl: server.url("project.git"),
          script: FaultService.notingScript(service, "git")
        })
        cutFetches = 2

        yield* wait("FAILED pushing", Effect.map(service.status(p), (s) => s === "FAILED"), 120_000)
        assert.strictEqual(cutFetches, 0, "both fetches were cut")
        const state = yield* request(automation(`status/${p}`))
        const errorId = /"errorId":"([0-9a-f-]+)"/.exec(state.body)?.[1]
        const executionId = /"executionId":"([0-9a-f-]+)"/.exec(state.body)?.[1]
        if (errorId === undefined || executionId === undefined) return assert.fail(`no error in ${state.body}`)
        const error = yield* request(`${service.base}/api/devteam/errors/${executionId}/${errorId}`)
        assert.include(error.body, "\"category\":\"git\"", error.body)
        // the first step that pushes (IMPLEMENT pushes the task branch, PUSH the base branch)
        assert.include(error.body, "\"operation\":\"push\"", error.body)
        assert.notInclude(error.body, PASSWORD)
        // 1 attempt + 2 retries, the waits growing (200 ms, then 400 ms, plus git's own time).
        assert.isAtLeast(refused.length, 3)
        const gaps = refused.slice(1).map((t, i) => t - (refused[i] ?? t))
        assert.isAtLeast(gaps[0] ?? 0, 200)
        assert.isAtLeast(gaps[1] ?? 0, 400)
        const retried = yield* service.sql(
          `SELECT count(*) FROM journal WHERE project_id = '${p}' AND type = 'LogBatch' AND data::text LIKE '%retrying (attempt 2)%'`
        )
        assert.isAtLeast(Number(retried.trim()), 1, "the retries are in the execution's log")
        assert.notInclude(git(bare, ["log", "--format=%s", "main"]), "task 1.1.1", "nothing reached the remote")

        refusePush = false
        const resumed = yield* post(automation(`resume/${p}`))
        assert.strictEqual(resumed.status, 200, resumed.body)
        yield* wait("COMPLETED after resume", Effect.map(service.status(p), (s) => s === "COMPLETED"), 90_000)
        const subjects = git(bare, ["log", "--format=%s", "main"]).split("\n")
        const merges = git(bare, ["log", "--merges", "--format=%s", "main"]).split("\n").filter((s) => s !== "")
        assert.strictEqual(merges.length, 1, `one merge on the remote: ${subjects.join(" | ")}`)
        // (Each retry of IMPLEMENT re-runs the tool and commits again, so the task branch may hold one
        // commit per attempt; the remote's main gets the task through exactly one merge.)
        assert.isAtLeast(
          git(bare, ["log", "--no-merges", "--format=%s", "main"]).split("\n").filter((s) => s.startsWith("task 1.1.1"))
            .length,
          1,
          `the task's commit reached the remote: ${subjects.join(" | ")}`
        )
        assert.strictEqual(subjects.filter((s) => s.startsWith("1.1.1: ")).length, 1, "ticked once")
        const seqs = yield* FaultService.journalSeqs(service, p)
        assert.deepStrictEqual(seqs, seqs.map((_, i) => i + 1))
        yield* Effect.logInfo("git remote figures").pipe(
          Effect.annotateLogs({ cutFetches: cut.length, refusedPushes: refused.length, pushGapsMs: gaps.join(",") })
        )
      }),
    240_000
  )
})
