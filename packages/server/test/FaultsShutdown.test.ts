/**
 * Graceful shutdown, on a real service process (throwaway Postgres, local sandbox, script tool):
 * SIGTERM while IMPLEMENT's tool is writing output. The process stops taking requests, interrupts
 * the step resumably (its tool is killed, the step re-runs later), flushes the output lines the
 * tool printed to the journal, and exits 0 within a bound. Started again, it resumes the execution
 * by itself and completes it; the journal is gap-free.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { randomUUID } from "node:crypto"
import * as Fs from "node:fs"
import * as FaultService from "./fixtures/FaultService.js"
import { processesWith } from "./fixtures/Processes.js"

const { request } = FaultService

describe("graceful shutdown (real service process)", () => {
  it.scopedLive(
    "SIGTERM mid-step: stops taking requests, flushes logs, exits 0; the restarted process resumes",
    () =>
      Effect.gen(function*() {
        const service = yield* FaultService.make()
        const { base, runner, wait } = service
        const p = `shutdown-${randomUUID().slice(0, 8)}`
        const printed = `${service.root}/printed.txt`
        const tag = `t${randomUUID().slice(0, 6)}`
        // First run: a line every 0.2 s for a minute, each also written to `printed` (what the tool said).
        const firstRun =
          `for i in $(seq 1 300); do echo "${tag} line $i"; echo "${tag} line $i" >> ${printed}; sleep 0.2; done`
        yield* service.initialize({ projectId: p, script: FaultService.notingScript(service, "shutdown", firstRun) })
        yield* wait(
          "output flowing",
          Effect.sync(() => Fs.existsSync(printed) && Fs.readFileSync(printed, "utf8").split("\n").length > 10),
          60_000
        )

        const t0 = Date.now()
        yield* runner.kill("SIGTERM")
        const shutdownMs = Date.now() - t0
        assert.deepStrictEqual(runner.exit(), { code: 0, signal: null }, `exit code 0\n${runner.output().slice(-2000)}`)
        assert.isBelow(shutdownMs, 30_000, "shut down within 30 s")
        assert.deepStrictEqual(processesWith(tag), [], "the tool was stopped with the service")
        const refused = yield* request(`${base}/health`, {}, 2_000)
        assert.strictEqual(refused.status, 0, "no longer taking requests")

        // Every line the tool printed before it was stopped reached the journal.
        const said = Fs.readFileSync(printed, "utf8").split("\n").filter((l) => l !== "")
        const journaled = yield* service.sql(
          `SELECT string_agg(data::text, '') FROM journal WHERE project_id = '${p}' AND type = 'LogBatch'`
        )
        const missing = said.filter((line) => !journaled.includes(`"${line}"`))
        assert.deepStrictEqual(missing, [], `all ${said.length} printed lines journaled`)

        // Started again: the execution resumes by itself (the wake-up) and completes.
        yield* runner.start
        yield* wait("COMPLETED after restart", Effect.map(service.status(p), (s) => s === "COMPLETED"), 90_000)
        const seqs = yield* FaultService.journalSeqs(service, p)
        assert.deepStrictEqual(seqs, seqs.map((_, i) => i + 1), "seqs 1..N without gap")
        const attempts = yield* service.sql(
          `SELECT data->>'attempt' FROM journal WHERE project_id = '${p}' AND type = 'StepStarted' AND data->>'step' = 'IMPLEMENT' ORDER BY seq`
        )
        assert.deepStrictEqual(attempts.trim().split("\n"), ["1", "2"], "the interrupted step re-ran")
        yield* Effect.logInfo("shutdown figures").pipe(
          Effect.annotateLogs({ shutdownMs, linesPrinted: said.length })
        )
      }),
    240_000
  )
})
