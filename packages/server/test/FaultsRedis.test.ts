/**
 * Redis fault, on real processes: the service (production entry point, ROLE=all, REDIS_URL set) on
 * a throwaway Postgres cluster and a throwaway redis-server. Redis is killed while an execution
 * writes a log line every 0.25 s and a WebSocket client follows it; 6 s later it is started again.
 * Frames keep flowing while Redis is down (the journal poll, WS_POLL_INTERVAL_MS=2000), live
 * delivery (well under the poll interval) resumes once Redis is back, the subscriber gets every
 * frame in order, /health reports Redis down then up, and nothing crashes.
 */
import { ProjectId } from "@devteam/domain/Ids"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { randomUUID } from "node:crypto"
import * as FaultService from "./fixtures/FaultService.js"
import * as WsHarness from "./fixtures/WsHarness.js"

const { request } = FaultService

describe("Redis fault (throwaway redis-server, real service process)", () => {
  it.scopedLive(
    "Redis killed mid-execution and restarted: frames keep flowing by polling, live delivery resumes, every frame in order",
    () =>
      Effect.gen(function*() {
        const service = yield* FaultService.make({ redis: true, env: { WS_POLL_INTERVAL_MS: "2000" } })
        const redis = service.redis
        if (redis === undefined) return assert.fail("no redis")
        const { base, wait } = service
        const r = ProjectId.make(`redis-${randomUUID().slice(0, 8)}`)
        yield* service.initialize({
          projectId: r,
          script: FaultService.notingScript(service, "r", "for i in $(seq 1 80); do echo \"line $i\"; sleep 0.25; done")
        })

        const ws = yield* WsHarness.client(`${base.replace("http", "ws")}/ws/devteam?projectId=${r}&since=0`)
        const received: Array<{ readonly seq: number; readonly at: number; readonly ts: string }> = []
        ws.ws.on("message", (data) => {
          const frame: unknown = JSON.parse(data.toString())
          if (
            typeof frame === "object" && frame !== null && "seq" in frame && typeof frame.seq === "number" &&
            "ts" in frame && typeof frame.ts === "string" && "projectId" in frame
          ) received.push({ seq: frame.seq, at: Date.now(), ts: frame.ts })
        })
        yield* wait("log lines flowing", Effect.sync(() => received.length >= 5), 60_000)
        const healthUp = yield* request(`${base}/health`)
        assert.include(healthUp.body, "\"redis\":\"available\"")

        const killedAt = Date.now()
        yield* redis.stop
        const countAtKill = received.length
        // Frames keep coming through the journal poll while Redis is down.
        yield* wait("frames while Redis is down", Effect.sync(() => received.length >= countAtKill + 3), 10_000)
        const healthDown = yield* request(`${base}/health`)
        assert.include(healthDown.body, "\"redis\":\"unavailable\"")
        yield* Effect.sleep(Math.max(0, 6_000 - (Date.now() - killedAt)))
        yield* redis.start
        const backAt = Date.now()

        // Live again: frames reach the client well under the 2 s poll interval after their commit.
        yield* wait(
          "live delivery after Redis is back",
          Effect.sync(() => {
            const recent = received.filter((f) => f.at > backAt + 2_000)
            return recent.length >= 8 && recent.slice(-8).every((f) => f.at - Date.parse(f.ts) < 1_000)
          }),
          20_000
        )
        const liveAgainMs = (received.find((f) => f.at > backAt && f.at - Date.parse(f.ts) < 500)?.at ?? NaN) -
          backAt
        yield* wait("COMPLETED", Effect.map(service.status(r), (s) => s === "COMPLETED"), 90_000)
        yield* Effect.promise(() =>
          ws.waitFor((frames) => frames.some((f) => f.type === "execution-completed"), 20_000)
        )
        assert.deepStrictEqual(ws.journalSeqs(r), yield* FaultService.frameSeqs(service, r), "every frame, in order")
        const seqs = yield* FaultService.journalSeqs(service, r)
        assert.deepStrictEqual(seqs, seqs.map((_, i) => i + 1))
        const healthBack = yield* request(`${base}/health`)
        assert.include(healthBack.body, "\"redis\":\"available\"")
        assert.notInclude(service.runner.output(), "cannot start")
        const whileDown = received.filter((f) => f.at > killedAt && f.at < backAt)
        yield* Effect.logInfo("redis figures").pipe(
          Effect.annotateLogs({
            framesWhileDown: whileDown.length,
            worstDelayWhileDownMs: Math.max(...whileDown.map((f) => f.at - Date.parse(f.ts))),
            liveAgainMs,
            frames: received.length
          })
        )
      }),
    240_000
  )
})
