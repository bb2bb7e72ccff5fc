/**
 * Postgres faults, on real processes: the service (production entry point, ROLE=all) on a
 * throwaway Postgres 15 cluster that the test stops, restarts and whose connections it kills.
 *
 * 1. Stopped (`pg_ctl stop -m fast`) for 12 s and started again, under load — issue 18's wedge
 *    included: project A is parked in IMPLEMENTING with a pause pending while a client alternates
 *    pause and resume every 0.5 s and injects tasks; project B runs an execution whose WebSocket
 *    subscriber must get every frame, in order. While Postgres is down commands answer 503 fast;
 *    within 10 s of it being back the service serves again (no restart); nothing acknowledged is
 *    lost; B completes.
 * 2. Connections killed (`pg_terminate_backend`) again and again while an execution journals log
 *    batches and commands arrive: each command fails or succeeds as a whole, every journal stays
 *    gap-free, the projections agree with the journal, and the execution completes.
 */
import { ProjectId } from "@devteam/domain/Ids"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { randomUUID } from "node:crypto"
import * as FaultService from "./fixtures/FaultService.js"
import { killPids, processesWith } from "./fixtures/Processes.js"
import * as WsHarness from "./fixtures/WsHarness.js"

const { post, request } = FaultService

interface Sent {
  readonly at: number
  readonly what: string
  readonly answer: FaultService.Answer
}

describe("Postgres faults (throwaway cluster, real service process)", () => {
  it.scopedLive(
    "stopped 12 s under load: 503 fast while down, serving within 10 s of it being back, nothing acknowledged lost, B's subscriber gets every frame",
    () =>
      Effect.gen(function*() {
        const service = yield* FaultService.make()
        const { automation, base, wait } = service
        const sleepFor = `600.${Math.floor(Math.random() * 1e6)}`
        yield* Effect.addFinalizer(() => Effect.sync(() => killPids(processesWith(`sleep ${sleepFor}`))))

        const a = `pg-a-${randomUUID().slice(0, 8)}`
        const b = `pg-b-${randomUUID().slice(0, 8)}`
        yield* service.initialize({ projectId: a, script: `sleep ${sleepFor}`, stopPoint: null })
        // 30 s of ticks on the first run, at once afterwards
        const ticks = "for i in $(seq 1 60); do echo \"tick $i\"; sleep 0.5; done"
        yield* service.initialize({ projectId: b, script: FaultService.notingScript(service, "b", ticks) })
        yield* wait("A in IMPLEMENTING", Effect.map(service.status(a), (s) => s === "IMPLEMENTING"), 60_000)
        yield* wait("B in IMPLEMENTING", Effect.map(service.status(b), (s) => s === "IMPLEMENTING"), 60_000)

        const ws = yield* WsHarness.client(`${base.replace("http", "ws")}/ws/devteam?projectId=${b}&since=0`)
        yield* Effect.promise(() => ws.waitFor((frames) => frames.some((f) => f.type === "replay-complete"), 30_000))

        const pending = yield* post(automation(`pause/${a}`))
        assert.strictEqual(pending.status, 200, pending.body)
        assert.include(pending.body, "\"pauseRequested\":true")

        // The load: A's operator alternates resume/pause every 0.5 s, injects a task every second,
        // and reads /health; every answer is recorded.
        const sent: Array<Sent> = []
        const record = (what: string, answer: FaultService.Answer) => sent.push({ at: Date.now(), what, answer })
        let injected = 0
        // stopped between requests, never inside one: a request cut off after the service took it
        // would change A's state without an answer to record (interrupting the fiber did that)
        let loading = true
        const load = yield* Effect.whileLoop({
          while: () => loading,
          step: () => undefined,
          body: () =>
            Effect.gen(function*() {
              for (const command of ["resume", "pause"] as const) {
                record(command, yield* post(automation(`${command}/${a}`)))
                record("health", yield* request(`${base}/health`))
                yield* Effect.sleep("500 millis")
              }
              const id = `X${++injected}`
              record(
                `inject ${id}`,
                yield* post(`${base}/api/devteam/tasks/inject`, {
                  projectId: a,
                  task: { id, title: `Injected ${id}`, description: "fault test" },
                  mode: "priority"
                })
              )
            })
        }).pipe(Effect.fork)

        yield* Effect.sleep("1 second")
        const stoppedAt = Date.now()
        yield* service.pg.stop
        yield* Effect.sleep("12 seconds")
        yield* service.pg.start
        const backAt = Date.now()

        yield* wait(
          "a command answered 200 after Postgres came back",
          Effect.sync(() => sent.some((s) => s.at > backAt && s.what !== "health" && s.answer.status === 200)),
          10_000
        )
        const recoveredMs = Date.now() - backAt
        yield* Effect.sleep("6 seconds")
        loading = false
        yield* Fiber.join(load)

        // Every request was answered; while Postgres was down, commands answered 503, fast.
        const unanswered = sent.filter((s) => s.answer.status === 0)
        assert.deepStrictEqual(
          unanswered.map((s) => `${s.what} at +${s.at - stoppedAt} ms`),
          [],
          "every request answered"
        )
        const whileDown = sent.filter((s) => s.at > stoppedAt + 2_000 && s.at < backAt - 1_000 && s.what !== "health")
        assert.isNotEmpty(whileDown)
        for (const s of whileDown) {
          assert.strictEqual(s.answer.status, 503, `${s.what} while Postgres is down: ${s.answer.body}`)
          assert.isBelow(s.answer.ms, 2_000, `${s.what} answered fast`)
        }
        const healthDown = sent.filter((s) => s.at > stoppedAt + 2_000 && s.at < backAt - 1_000 && s.what === "health")
        for (const s of healthDown) assert.strictEqual(s.answer.status, 503, "health while Postgres is down")
        // Serving again: every command of the last 4 s succeeded.
        const recent = sent.filter((s) => s.at > Date.now() - 4_000 && s.what !== "health")
        assert.isNotEmpty(recent)
        for (const s of recent) assert.strictEqual(s.answer.status, 200, `${s.what}: ${s.answer.body}`)

        // Nothing acknowledged lost: every injection answered 200 is in A's journal, once.
        const acked = sent.filter((s) => s.what.startsWith("inject") && s.answer.status === 200).map((s) =>
          s.what.slice("inject ".length)
        )
        assert.isNotEmpty(acked)
        const journaled = (yield* service.sql(
          `SELECT data->'injection'->'task'->>'id' FROM journal WHERE project_id = '${a}' AND type = 'TaskInjected' ORDER BY seq`
        )).split("\n").filter((l) => l !== "")
        for (const id of acked) assert.strictEqual(journaled.filter((j) => j === id).length, 1, `injection ${id}`)
        // …and A's state is the last acknowledged pause/resume.
        const lastToggle = sent.filter((s) => (s.what === "pause" || s.what === "resume") && s.answer.status === 200)
          .at(-1)
        const aState = yield* request(automation(`status/${a}`))
        const aStatus = /"status":"([A-Z_]+)"/.exec(aState.body)?.[1]
        if (lastToggle?.what === "pause") {
          assert.isTrue(
            aStatus === "PAUSED" || aStatus === "FAILED" || aState.body.includes("\"pauseRequested\":true"),
            `A after an acknowledged pause: ${aState.body}`
          )
        } else {
          assert.notStrictEqual(aStatus, "PAUSED", `A after an acknowledged resume: ${aState.body}`)
        }
        for (const project of [a, b]) {
          const seqs = yield* FaultService.journalSeqs(service, project)
          assert.deepStrictEqual(seqs, seqs.map((_, i) => i + 1), `${project}: seqs 1..N without gap`)
        }

        // B went on after the outage and completed; its subscriber got every frame, in order.
        yield* wait("B COMPLETED", Effect.map(service.status(b), (s) => s === "COMPLETED"), 90_000)
        yield* Effect.promise(() =>
          ws.waitFor((frames) => frames.some((f) => f.type === "execution-completed"), 20_000)
        )
        assert.deepStrictEqual(ws.journalSeqs(ProjectId.make(b)), yield* FaultService.frameSeqs(service, b))
        yield* Effect.logInfo("postgres restart figures").pipe(
          Effect.annotateLogs({
            recoveredMs,
            slowestWhileDownMs: Math.max(...whileDown.map((s) => s.answer.ms)),
            acknowledged: sent.filter((s) => s.what !== "health" && s.answer.status === 200).length,
            refused503: sent.filter((s) => s.answer.status === 503).length,
            frames: ws.journalSeqs(ProjectId.make(b)).length
          })
        )
      }),
    300_000
  )

  it.scopedLive(
    "connections killed mid-append again and again: commands whole or nothing, journal gap-free, projections agree, execution completes",
    () =>
      Effect.gen(function*() {
        const service = yield* FaultService.make()
        const { base, wait } = service
        const c = `pg-kill-${randomUUID().slice(0, 8)}`
        // Output as fast as the log batcher journals it (a LogBatch every ~100 ms) for 10 s.
        const lines = "for i in $(seq 1 200); do echo \"line $i\"; sleep 0.05; done"
        yield* service.initialize({ projectId: c, script: FaultService.notingScript(service, "c", lines) })
        yield* wait("C in IMPLEMENTING", Effect.map(service.status(c), (s) => s === "IMPLEMENTING"), 60_000)

        const injections: Array<{ readonly id: string; readonly answer: FaultService.Answer }> = []
        const inject = Effect.gen(function*() {
          const id = `K${injections.length + 1}`
          const answer = yield* post(`${base}/api/devteam/tasks/inject`, {
            projectId: c,
            task: { id, title: `Injected ${id}`, description: "kill test" },
            mode: "positional",
            afterTaskId: "1.2.1"
          }, 30_000)
          injections.push({ id, answer })
        })
        const commands = yield* Effect.forever(Effect.zipRight(inject, Effect.sleep("150 millis"))).pipe(Effect.fork)
        let killed = 0
        for (let i = 0; i < 20; i++) {
          const out = yield* service.sql(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity " +
              "WHERE datname = 'test' AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
          )
          killed += Number(out.trim())
          yield* Effect.sleep("400 millis")
        }
        yield* Fiber.interrupt(commands)
        assert.isAbove(killed, 0, "connections were killed")

        yield* wait("C COMPLETED", Effect.map(service.status(c), (s) => s === "COMPLETED"), 90_000)
        const seqs = yield* FaultService.journalSeqs(service, c)
        assert.deepStrictEqual(seqs, seqs.map((_, i) => i + 1), "seqs 1..N without gap or duplicate")
        const projected = yield* service.sql(`SELECT last_seq FROM project_status WHERE project_id = '${c}'`)
        assert.strictEqual(Number(projected.trim()), seqs.length, "the projection is at the journal's last seq")
        const journaled = (yield* service.sql(
          `SELECT data->'injection'->'task'->>'id' FROM journal WHERE project_id = '${c}' AND type = 'TaskInjected'`
        )).split("\n").filter((l) => l !== "")
        // Whole or nothing: an acknowledged injection is journaled once; a failed one at most once
        // (its outcome was unknown to the caller), never twice, never in part.
        for (const { answer, id } of injections) {
          const n = journaled.filter((j) => j === id).length
          if (answer.status === 200) assert.strictEqual(n, 1, `acknowledged ${id}`)
          else assert.isAtMost(n, 1, `failed ${id} (${answer.status})`)
          assert.include([200, 500, 503], answer.status, `${id}: ${answer.body}`)
        }
        const tasks = yield* request(`${base}/api/devteam/repository/tasks/${c}`, {}, 30_000)
        assert.strictEqual(tasks.status, 200, tasks.body)
        for (const id of journaled) assert.include(tasks.body, `"id":"${id}"`)
        yield* Effect.logInfo("connection kill figures").pipe(
          Effect.annotateLogs({
            killed,
            injections: injections.length,
            acknowledged: injections.filter((i) => i.answer.status === 200).length,
            failed: injections.filter((i) => i.answer.status !== 200).map((i) => i.answer.status).join(","),
            journal: seqs.length
          })
        )
      }),
    240_000
  )
})
