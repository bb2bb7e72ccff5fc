/**
 * Issue 18's wedge, as an operator met it: the service (ROLE=all, the production entry point) on a
 * throwaway Postgres 15 cluster, one execution parked in IMPLEMENTING (`sleep` as the script tool)
 * with a pause pending, a client alternating pause and resume every 0.5 s and reading /health.
 * Postgres is stopped (`pg_ctl stop -m fast`) and started again 12 s later. The service must keep
 * answering HTTP throughout (503 while Postgres is down) and serve commands again within 10 s of
 * Postgres being back, without a restart.
 */
import { fileUrl, makeBareRemote, tempDir } from "@devteam/runtime/testing/GitRemote"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { randomUUID } from "node:crypto"
import * as Path from "node:path"
import { killPids, processesWith } from "./fixtures/Processes.js"
import * as RunnerProcess from "./fixtures/RunnerProcess.js"
import * as Throwaway from "./fixtures/ThrowawayServices.js"

interface Answer {
  readonly status: number // 0: no answer within the timeout
  readonly ms: number
  readonly body: string
}

const request = (url: string, init: RequestInit = {}, timeoutMs = 5_000) =>
  Effect.promise(async (): Promise<Answer> => {
    const t0 = Date.now()
    try {
      const response = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) })
      const body = await response.text()
      return { status: response.status, ms: Date.now() - t0, body }
    } catch (error) {
      return { status: 0, ms: Date.now() - t0, body: String(error) }
    }
  })

const post = (url: string, body?: unknown, timeoutMs?: number) =>
  request(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  }, timeoutMs)

describe("Postgres restarted while a pause is pending (issue 18's wedge, real processes)", () => {
  it.scopedLive(
    "HTTP keeps answering while Postgres is down and the service serves again within 10 s of it being back",
    () =>
      Effect.gen(function*() {
        const pg = yield* Throwaway.postgres
        const root = yield* tempDir("devteam-wedge-")
        const bare = makeBareRemote({ root, name: "project.git" })
        const sleepFor = `600.${Math.floor(Math.random() * 1e6)}`
        yield* Effect.addFinalizer(() => Effect.sync(() => killPids(processesWith(`sleep ${sleepFor}`))))

        const httpPort = yield* Throwaway.freePort
        const runner = yield* RunnerProcess.make({
          ROLE: "all",
          DATABASE_URL: pg.url(),
          DEVTEAM_RUNNER_HOST: "127.0.0.1",
          DEVTEAM_RUNNER_PORT: String(httpPort),
          RUNNER_HOST: "127.0.0.1",
          RUNNER_PORT: String(yield* Throwaway.freePort),
          DATA_DIR: Path.join(root, "data"),
          WORKSPACE_DIR: Path.join(root, "workspaces"),
          SANDBOX: "local",
          REPO_ALLOW_FILE: "true",
          WAKEUP_INTERVAL: "1 second",
          LOG_FORMAT: "json",
          LOG_LEVEL: "info"
        }, { logFile: Path.join(root, "service.log"), readyTimeoutMs: 90_000 })
        yield* runner.start
        const base = `http://127.0.0.1:${httpPort}`
        const projectId = `wedge-${randomUUID().slice(0, 8)}`
        const automation = `${base}/api/devteam/automation`

        const init = yield* post(`${automation}/initialize`, {
          projectId,
          repoUrl: fileUrl(bare),
          tool: "script",
          script: `sleep ${sleepFor}`,
          verify: { commands: ["true"] }
        }, 60_000)
        assert.strictEqual(init.status, 202, `${init.body}\n${runner.output().slice(-3000)}`)

        const status = Effect.map(
          request(`${automation}/status/${encodeURIComponent(projectId)}`),
          (a) => a.status === 200 ? /"status":"([A-Z_]+)"/.exec(a.body)?.[1] ?? "?" : `http ${a.status}`
        )
        const waitFor = (what: string, check: Effect.Effect<boolean>, timeoutMs: number) =>
          Effect.gen(function*() {
            const deadline = Date.now() + timeoutMs
            while (!(yield* check)) {
              if (Date.now() > deadline) {
                return yield* Effect.dieMessage(`timed out waiting for ${what}\n${runner.output().slice(-3000)}`)
              }
              yield* Effect.sleep("100 millis")
            }
          })
        yield* waitFor("IMPLEMENTING", Effect.map(status, (s) => s === "IMPLEMENTING"), 60_000)
        const paused = yield* post(`${automation}/pause/${encodeURIComponent(projectId)}`)
        assert.strictEqual(paused.status, 200, paused.body)
        assert.include(paused.body, "\"pauseRequested\":true")

        // The operator's client: pause, resume, pause… every 0.5 s, and /health, recording answers.
        const answers: Array<{ readonly at: number; readonly what: string; readonly answer: Answer }> = []
        const client = yield* Effect.forever(
          Effect.gen(function*() {
            for (const command of ["resume", "pause"] as const) {
              const answer = yield* post(`${automation}/${command}/${encodeURIComponent(projectId)}`)
              answers.push({ at: Date.now(), what: command, answer })
              answers.push({ at: Date.now(), what: "health", answer: yield* request(`${base}/health`) })
              yield* Effect.sleep("500 millis")
            }
          })
        ).pipe(Effect.fork)

        yield* Effect.sleep("1 second")
        const stoppedAt = Date.now()
        yield* pg.stop
        yield* Effect.sleep("12 seconds")
        yield* pg.start
        const backAt = Date.now()

        // Commands serve again (200 from resume or pause) within 10 s of Postgres being back.
        yield* waitFor(
          "a command answered 200 after Postgres came back",
          Effect.sync(() => answers.some((a) => a.at > backAt && a.what !== "health" && a.answer.status === 200)),
          10_000
        )
        const recoveredMs = Date.now() - backAt
        // …and keep being served: 15 s more without a request left unanswered.
        yield* Effect.sleep("15 seconds")
        yield* Fiber.interrupt(client)

        const unanswered = answers.filter((a) => a.answer.status === 0)
        assert.deepStrictEqual(
          unanswered.map((a) => `${a.what} at +${a.at - stoppedAt} ms`),
          [],
          "every request answered"
        )
        const whileDown = answers.filter((a) => a.at > stoppedAt + 2_000 && a.at < backAt - 1_000)
        assert.isNotEmpty(whileDown)
        for (const a of whileDown.filter((a) => a.what !== "health")) {
          assert.strictEqual(a.answer.status, 503, `${a.what} while Postgres is down: ${a.answer.body}`)
        }
        const lastSecond = answers.filter((a) => a.at > Date.now() - 5_000 && a.what !== "health")
        assert.isNotEmpty(lastSecond)
        for (const a of lastSecond) assert.strictEqual(a.answer.status, 200, `${a.what}: ${a.answer.body}`)
        const health = yield* request(`${base}/health`)
        assert.strictEqual(health.status, 200, health.body)
        yield* Effect.logInfo("wedge test figures").pipe(
          Effect.annotateLogs({
            recoveredMs,
            slowestWhileDownMs: Math.max(...whileDown.map((a) => a.answer.ms))
          })
        )
      }),
    240_000
  )
})
