/**
 * The stall watchdog, on a real service process (throwaway Postgres, local sandbox, script tool):
 * IMPLEMENT's tool prints one line and then hangs silently. With STEP_STALL_TIMEOUT=6 seconds the
 * step is ended as `stalled` — the tool process is killed, the line it printed stays in the journal
 * and in the error record — and the execution is FAILED, resumable: resume re-runs IMPLEMENT
 * (attempt 2), which finishes this time, and the execution completes.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { randomUUID } from "node:crypto"
import * as FaultService from "./fixtures/FaultService.js"
import { killPids, processesWith } from "./fixtures/Processes.js"

const { post, request } = FaultService

describe("stall watchdog (real service process)", () => {
  it.scopedLive(
    "a silent, hung step is ended as stalled after STEP_STALL_TIMEOUT; logs kept; resume re-runs it",
    () =>
      Effect.gen(function*() {
        const service = yield* FaultService.make({ env: { STEP_STALL_TIMEOUT: "6 seconds" } })
        const { automation, wait } = service
        const hang = `sleep 600.${Math.floor(Math.random() * 1e6)}`
        yield* Effect.addFinalizer(() => Effect.sync(() => killPids(processesWith(hang))))
        const p = `stall-${randomUUID().slice(0, 8)}`
        yield* service.initialize({
          projectId: p,
          script: FaultService.notingScript(service, "stall", `echo "about to hang"; ${hang}`)
        })
        yield* wait("the tool to hang", Effect.sync(() => processesWith(hang).length > 0), 60_000)
        const hungAt = Date.now()
        yield* wait("FAILED", Effect.map(service.status(p), (s) => s === "FAILED"), 30_000)
        const endedAfterMs = Date.now() - hungAt
        assert.isAtLeast(endedAfterMs, 5_000, "not before the timeout")
        yield* wait("the hung tool to be killed", Effect.sync(() => processesWith(hang).length === 0), 10_000)

        const state = yield* request(automation(`status/${p}`))
        const errorId = /"errorId":"([0-9a-f-]+)"/.exec(state.body)?.[1]
        const executionId = /"executionId":"([0-9a-f-]+)"/.exec(state.body)?.[1]
        if (errorId === undefined || executionId === undefined) return assert.fail(`no error in ${state.body}`)
        const error = yield* request(`${service.base}/api/devteam/errors/${executionId}/${errorId}`)
        assert.strictEqual(error.status, 200, error.body)
        assert.include(error.body, "\"category\":\"stalled\"")
        assert.include(error.body, "\"step\":\"IMPLEMENT\"")
        assert.include(error.body, "about to hang", "the step's output is kept in the error record")
        const logged = yield* service.sql(
          `SELECT count(*) FROM journal WHERE project_id = '${p}' AND type = 'LogBatch' AND data::text LIKE '%about to hang%'`
        )
        assert.strictEqual(Number(logged.trim()), 1, "the step's output is kept in the journal")

        const resumed = yield* post(automation(`resume/${p}`))
        assert.strictEqual(resumed.status, 200, resumed.body)
        yield* wait("COMPLETED", Effect.map(service.status(p), (s) => s === "COMPLETED"), 90_000)
        const attempts = yield* service.sql(
          `SELECT data->>'attempt' FROM journal WHERE project_id = '${p}' AND type = 'StepStarted' AND data->>'step' = 'IMPLEMENT' ORDER BY seq`
        )
        assert.deepStrictEqual(attempts.trim().split("\n"), ["1", "2"], "resume re-ran IMPLEMENT")
        yield* Effect.logInfo("stall figures").pipe(Effect.annotateLogs({ endedAfterMs }))
      }),
    240_000
  )
})
