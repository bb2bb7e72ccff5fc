/**
 * Docker engine fault, on a real service process (throwaway Postgres, SANDBOX=docker with the
 * registry-free `devteam-sandbox:test` image). The shared engine is never stopped: the service talks
 * to it through a unix-socket relay this test owns (DOCKER_SOCKET / DOCKER_HOST point at the relay),
 * and "the engine going down" is the relay cutting every connection and refusing new ones.
 * Mid-IMPLEMENT (the script tool sleeping in its container) the engine goes away: the step fails
 * with category `infrastructure` after its retries with backoff, the execution is FAILED and
 * resumable, /health says the engine is unavailable. With the engine back, resume re-runs the step.
 * Every container this test's service created (its own SANDBOX_OWNER label) is removed afterwards.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import { randomUUID } from "node:crypto"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Path from "node:path"
import * as FaultService from "./fixtures/FaultService.js"

const { post, request } = FaultService
const ENGINE = "/var/run/docker.sock"

/** A unix-socket relay to the engine that can be cut (every connection destroyed, new ones refused). */
const relay = (socketPath: string) =>
  Effect.acquireRelease(
    Effect.async<{ readonly cut: () => void; readonly restore: () => void; readonly close: () => void }>((resume) => {
      let up = true
      const open = new Set<Net.Socket>()
      const server = Net.createServer((client) => {
        if (!up) {
          client.destroy()
          return
        }
        const engine = Net.connect(ENGINE)
        open.add(client)
        open.add(engine)
        const drop = () => {
          client.destroy()
          engine.destroy()
          open.delete(client)
          open.delete(engine)
        }
        client.on("error", drop).on("close", drop)
        engine.on("error", drop).on("close", drop)
        client.pipe(engine)
        engine.pipe(client)
      })
      server.listen(socketPath, () =>
        resume(Effect.succeed({
          cut: () => {
            up = false
            for (const socket of open) socket.destroy()
            open.clear()
          },
          restore: () => {
            up = true
          },
          close: () => {
            for (const socket of open) socket.destroy()
            server.close()
          }
        })))
    }),
    (r) => Effect.sync(() => r.close())
  )

describe("Docker engine fault (a relay this test owns; the shared engine is never touched)", () => {
  it.scopedLive(
    "engine gone mid-step: infrastructure failure after retries, FAILED and resumable, /health says so",
    () =>
      Effect.gen(function*() {
        const owner = `faults-${randomUUID().slice(0, 8)}`
        const dir = yield* Effect.acquireRelease(
          Effect.sync(() => Fs.mkdtempSync("/tmp/devteam-relay-")),
          (d) => Effect.sync(() => Fs.rmSync(d, { recursive: true, force: true }))
        )
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            const ids = execFileSync("docker", ["ps", "-aq", "--filter", `label=devteam.sandbox.owner=${owner}`], {
              encoding: "utf8"
            }).split("\n").filter((l) => l !== "")
            if (ids.length > 0) execFileSync("docker", ["rm", "-f", ...ids], { stdio: "ignore" })
          })
        )
        const socket = Path.join(dir, "docker.sock")
        const engine = yield* relay(socket)
        const service = yield* FaultService.make({
          env: {
            SANDBOX: "docker",
            SANDBOX_IMAGE: "devteam-sandbox:test",
            SANDBOX_OWNER: owner,
            DOCKER_SOCKET: socket,
            DOCKER_HOST: `unix://${socket}`,
            PIPELINE_RETRY_BASE: "200 millis",
            PIPELINE_INFRA_RETRIES: "2"
          }
        })
        const { automation, wait } = service
        const p = `docker-${randomUUID().slice(0, 8)}`
        yield* service.initialize({ projectId: p, script: "echo started; sleep 600", stopPoint: null })
        yield* wait(
          "the tool running in its container",
          Effect.map(
            service.sql(
              `SELECT count(*) FROM journal WHERE project_id = '${p}' AND type = 'LogBatch' AND data::text LIKE '%started%'`
            ).pipe(Effect.orElseSucceed(() => "0")),
            (n) => Number(n.trim()) > 0
          ),
          120_000
        )

        engine.cut()
        const cutAt = Date.now()
        yield* wait("FAILED", Effect.map(service.status(p), (s) => s === "FAILED"), 60_000)
        const failedAfterMs = Date.now() - cutAt
        const health = yield* request(`${service.base}/health`, {}, 15_000)
        assert.include(health.body, "\"docker\":\"unavailable\"", health.body)
        const state = yield* request(automation(`status/${p}`))
        const errorId = /"errorId":"([0-9a-f-]+)"/.exec(state.body)?.[1]
        const executionId = /"executionId":"([0-9a-f-]+)"/.exec(state.body)?.[1]
        if (errorId === undefined || executionId === undefined) return assert.fail(`no error in ${state.body}`)
        const error = yield* request(`${service.base}/api/devteam/errors/${executionId}/${errorId}`)
        assert.include(error.body, "\"category\":\"infrastructure\"", error.body)
        assert.include(error.body, "\"step\":\"IMPLEMENT\"", error.body)
        const attempts = Number(/"attempts":(\d+)/.exec(error.body)?.[1] ?? 0)
        assert.isAtLeast(attempts, 2, `retried: ${error.body}`)

        engine.restore()
        yield* wait(
          "/health: engine back",
          Effect.map(request(`${service.base}/health`, {}, 15_000), (a) => a.body.includes("\"docker\":\"available\"")),
          30_000
        )
        const resumed = yield* post(automation(`resume/${p}`))
        assert.strictEqual(resumed.status, 200, resumed.body)
        yield* wait(
          "IMPLEMENT re-run",
          Effect.map(
            service.sql(
              `SELECT count(*) FROM journal WHERE project_id = '${p}' AND type = 'LogBatch' AND data::text LIKE '%started%'`
            ).pipe(Effect.orElseSucceed(() => "0")),
            (n) => Number(n.trim()) >= 2
          ),
          120_000
        )
        assert.strictEqual(yield* service.status(p), "IMPLEMENTING")
        const stopped = yield* post(automation(`stop/${p}`))
        assert.strictEqual(stopped.status, 200, stopped.body)
        yield* Effect.logInfo("docker figures").pipe(Effect.annotateLogs({ failedAfterMs }))
      }),
    300_000
  )
})
