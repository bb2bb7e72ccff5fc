import { ExecutionConfig } from "@devteam/domain/ExecutionConfig"
import { CustomerId, EventId, ExecutionId, ProjectId } from "@devteam/domain/Ids"
import { ExecutionQueue } from "@devteam/runner/ExecutionQueue"
import * as ExecutionQueueModule from "@devteam/runner/ExecutionQueue"
import * as PlaceholderStepRunner from "@devteam/runner/PlaceholderStepRunner"
import * as ProjectActor from "@devteam/runner/ProjectActor"
import { Project } from "@devteam/runner/ProjectEntity"
import * as Database from "@devteam/runtime/Database"
import { EventBus } from "@devteam/runtime/EventBus"
import { Journal } from "@devteam/runtime/Journal"
import { Projections } from "@devteam/runtime/Projections"
import * as Storage from "@devteam/runtime/Storage"
import { Entity, ShardingConfig } from "@effect/cluster"
import { assert, layer } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Layer, Scope } from "effect"
import { randomUUID } from "node:crypto"

// The placeholder step driver (every step only journals) and unused single steps: this suite tests
// the actor — mailbox, journal as the commit point, activation — while the pipeline has its own.
const env = (
  options: { readonly stepDuration: Duration.DurationInput; readonly tasks?: number; readonly capacity?: number }
) =>
  Layer.mergeAll(
    PlaceholderStepRunner.layer({ tasks: options.tasks ?? 3, stepDuration: options.stepDuration }),
    ExecutionQueueModule.layer(options.capacity ?? 5),
    PlaceholderStepRunner.unusedParts,
    ShardingConfig.layer()
  )

// One journal for the suite (opening PGlite costs seconds of CPU): every test has projects of its own.
const storage = Storage.layerWith(Database.layerPglite(undefined), EventBus.layerMemory)

const config = new ExecutionConfig({
  repoUrl: "https://example.com/acme/app.git",
  baseBranch: "main",
  taskListPath: "docs/DevTeam/tasks_list.md",
  tool: "script",
  customerId: CustomerId.make("acme")
})

const initialize = (correlationId = "test") => ({
  correlationId,
  executionId: ExecutionId.make(randomUUID()),
  eventId: EventId.make(randomUUID()),
  config
})

/** A fresh activation of the entity, in its own scope (closing it = passivation / crash of the runner). */
const activate = Effect.gen(function*() {
  const scope = yield* Scope.make()
  const makeClient = yield* Entity.makeTestClient(Project, ProjectActor.layer({ maxIdleTime: "1 minute" })).pipe(
    Scope.extend(scope)
  )
  return {
    client: (id: string) => makeClient(id).pipe(Scope.extend(scope)),
    close: Scope.close(scope, Exit.void)
  }
})

const poll = <A, E, R>(
  probe: Effect.Effect<A, E, R>,
  done: (a: A) => boolean,
  timeout: Duration.DurationInput = "20 seconds"
) =>
  Effect.gen(function*() {
    const deadline = Date.now() + Duration.toMillis(Duration.decode(timeout))
    while (true) {
      const value = yield* probe
      if (done(value)) return value
      if (Date.now() > deadline) return yield* Effect.dieMessage("timed out waiting for a condition")
      yield* Effect.sleep("20 millis")
    }
  })

const pid = (name: string) => ProjectId.make(`acme/${name}-${randomUUID().slice(0, 8)}`)

layer(storage, { excludeTestServices: true, timeout: "120 seconds" })("ProjectActor", (it) => {
  it.scoped("runs an execution to COMPLETED, journaling every step; commands are answered after commit", () =>
    Effect.gen(function*() {
      const journal = yield* Journal
      const projections = yield* Projections
      const { client } = yield* activate
      const projectId = pid("run")
      const project = yield* client(projectId)
      const started = yield* project.Initialize(initialize())
      assert.strictEqual(started.status, "QUEUED")
      // answered after commit: the journal already holds the initialization
      assert.isAtLeast(yield* journal.lastSeq(projectId), 1)
      const final = yield* poll(project.GetState({ correlationId: "t" }), (s) => s.status === "COMPLETED")
      assert.strictEqual(final.completedTasks, 3)
      assert.deepStrictEqual(final.completedInExecution.map(String), ["1.1", "1.2", "1.3"])
      const entries = yield* journal.read(projectId, 0, 1000)
      assert.deepStrictEqual(entries.map((e) => e.seq), entries.map((_, i) => i + 1), "seqs 1..N without gaps")
      assert.strictEqual(entries.filter((e) => e.event._tag === "TaskListUpdated").length, 3)
      assert.strictEqual(entries.at(-1)?.event._tag, "ExecutionCompleted")
      const status = yield* projections.status(projectId)
      assert.strictEqual(status._tag === "Some" ? status.value.status : "none", "COMPLETED")
    }).pipe(Effect.provide(env({ stepDuration: "2 millis" }))))

  it.scoped("a step's completion and the loop's next move (the next step's start, or the pause waiting there) are one transaction", () =>
    Effect.gen(function*() {
      const journal = yield* Journal
      const { client } = yield* activate
      const projectId = pid("boundary")
      const project = yield* client(projectId)
      yield* project.Initialize(initialize())
      yield* poll(project.GetState({ correlationId: "t" }), (s) => s.status === "IMPLEMENTING")
      yield* project.Pause({ correlationId: "t" })
      yield* poll(project.GetState({ correlationId: "t" }), (s) => s.status === "PAUSED", "5 seconds")
      yield* project.Resume({ correlationId: "t" })
      yield* poll(project.GetState({ correlationId: "t" }), (s) => s.status === "COMPLETED")
      const entries = yield* journal.read(projectId, 0, 1000)
      // one append, one timestamp: a step's start that follows a step's outcome shares its
      // transaction (the first start of a run follows the run's own event)
      const outcomes = [
        "TaskSelected",
        "PrepCompleted",
        "ImplementCompleted",
        "VerifyCompleted",
        "MergeCompleted",
        "PushCompleted",
        "TaskListUpdated"
      ]
      const afterOutcome = (i: number) => outcomes.includes(entries[i - 1]?.event._tag ?? "")
      const boundaries = entries.flatMap((e, i) => e.event._tag === "StepStarted" && afterOutcome(i) ? [i] : [])
      assert.isAtLeast(boundaries.length, 15)
      for (const i of boundaries) {
        assert.strictEqual(
          entries[i]?.ts,
          entries[i - 1]?.ts,
          `seq ${entries[i]?.seq}: ${entries[i - 1]?.event._tag} → StepStarted`
        )
      }
      // the pause waited at a boundary: it went with that step's outcome, and no step started there
      const paused = entries.findIndex((e) => e.event._tag === "ExecutionPaused")
      assert.isTrue(afterOutcome(paused), `ExecutionPaused after ${entries[paused - 1]?.event._tag}`)
      assert.strictEqual(entries[paused]?.ts, entries[paused - 1]?.ts)
    }).pipe(Effect.provide(env({ stepDuration: "40 millis" }))))

  it.scoped("illegal transitions are refused with IllegalTransition and change nothing", () =>
    Effect.gen(function*() {
      const journal = yield* Journal
      const { client } = yield* activate
      const projectId = pid("illegal")
      const project = yield* client(projectId)
      const idle = yield* project.Pause({ correlationId: "t" }).pipe(Effect.flip)
      assert.strictEqual(idle._tag, "IllegalTransition")
      assert.strictEqual(yield* journal.lastSeq(projectId), 0)
      yield* project.Initialize(initialize())
      yield* poll(project.GetState({ correlationId: "t" }), (s) => s.status === "COMPLETED")
      const before = yield* project.GetState({ correlationId: "t" })
      const seq = yield* journal.lastSeq(projectId)
      for (
        const refused of [
          project.Pause({ correlationId: "t" }),
          project.Resume({ correlationId: "t" }),
          project.Stop({ correlationId: "t" })
        ]
      ) {
        const error = yield* Effect.flip(refused)
        assert.strictEqual(error._tag, "IllegalTransition")
      }
      assert.strictEqual(yield* journal.lastSeq(projectId), seq)
      assert.deepStrictEqual(yield* project.GetState({ correlationId: "t" }), before)
    }).pipe(Effect.provide(env({ stepDuration: "1 millis" }))))

  it.scoped("commands for one project are processed strictly one at a time", () =>
    Effect.gen(function*() {
      const journal = yield* Journal
      const { client } = yield* activate
      const projectId = pid("serial")
      const project = yield* client(projectId)
      yield* project.Initialize(initialize())
      // 40 concurrent pause/resume commands: each must be decided on the state the previous one left.
      const results = yield* Effect.forEach(
        Array.from({ length: 40 }, (_, i) => i),
        (i) =>
          Effect.either(
            i % 2 === 0 ? project.Pause({ correlationId: `c${i}` }) : project.Resume({ correlationId: `c${i}` })
          ),
        { concurrency: "unbounded" }
      )
      assert.isTrue(results.some((r) => r._tag === "Right"))
      for (const r of results) if (r._tag === "Left") assert.strictEqual(r.left._tag, "IllegalTransition")
      yield* project.Stop({ correlationId: "stop" }).pipe(Effect.ignore)
      const entries = yield* journal.read(projectId, 0, 10_000)
      assert.deepStrictEqual(entries.map((e) => e.seq), entries.map((_, i) => i + 1))
      // Replaying the control events: a decision on a stale state would show up as a second
      // PauseRequested while one is pending, or a resume with nothing to resume.
      let pending = false
      let paused = false
      for (const { event } of entries) {
        if (event._tag === "PauseRequested") {
          assert.isFalse(pending || paused, "pause requested twice")
          pending = true
        } else if (event._tag === "ExecutionPaused") {
          assert.isFalse(paused)
          paused = true
          pending = false
        } else if (event._tag === "ExecutionResumed") {
          assert.isTrue(pending || paused, "resume without a pause")
          pending = false
          paused = false
        }
      }
    }).pipe(Effect.provide(env({ stepDuration: "15 millis", tasks: 50 }))))

  it.scoped("state after re-activation equals the state before", () =>
    Effect.gen(function*() {
      const first = yield* activate
      const projectId = pid("reactivate")
      const project = yield* first.client(projectId)
      yield* project.Initialize(initialize())
      const before = yield* poll(project.GetState({ correlationId: "t" }), (s) => s.status === "COMPLETED")
      yield* first.close
      const second = yield* activate
      const after = yield* (yield* second.client(projectId)).GetState({ correlationId: "t" })
      assert.deepStrictEqual(after, before)
    }).pipe(Effect.provide(env({ stepDuration: "1 millis" }))))

  it.scoped("an execution cut off mid-step resumes on re-activation: the in-flight step runs again, nothing twice", () =>
    Effect.gen(function*() {
      const journal = yield* Journal
      const first = yield* activate
      const projectId = pid("crash")
      const project = yield* first.client(projectId)
      yield* project.Initialize(initialize())
      yield* poll(project.GetState({ correlationId: "t" }), (s) => s.status === "IMPLEMENTING")
      yield* first.close // the runner dies: the execution fiber is interrupted mid-step
      const cutAt = yield* journal.lastSeq(projectId)
      const second = yield* activate
      const again = yield* second.client(projectId)
      yield* again.Wake({ correlationId: "wake" })
      const final = yield* poll(again.GetState({ correlationId: "t" }), (s) => s.status === "COMPLETED")
      assert.strictEqual(final.completedTasks, 3)
      const entries = yield* journal.read(projectId, 0, 1000)
      const restarted = entries.filter((e) => e.seq > cutAt && e.event._tag === "StepStarted")[0]
      assert.isDefined(restarted)
      if (restarted?.event._tag === "StepStarted") {
        assert.strictEqual(restarted.event.step, "IMPLEMENT")
        assert.strictEqual(restarted.event.attempt, 2)
      }
      const ticks = entries.flatMap((e) => (e.event._tag === "TaskListUpdated" ? [String(e.event.taskId)] : []))
      assert.deepStrictEqual(ticks, ["1.1", "1.2", "1.3"])
    }).pipe(Effect.provide(env({ stepDuration: "150 millis" }))))

  // Issue 18's wedge: re-activated with the in-flight step interrupted and a pause pending, the loop
  // could neither start the step (a pause is pending) nor pause (a step "runs"), and retried at once,
  // forever, starving the event loop. Now the pause applies at this boundary; resume re-runs the step.
  it.scoped("cut off mid-step with a pause pending: re-activation pauses (no spin), resume re-runs the step", () =>
    Effect.gen(function*() {
      const journal = yield* Journal
      const first = yield* activate
      const projectId = pid("pause-crash")
      const project = yield* first.client(projectId)
      yield* project.Initialize(initialize())
      yield* poll(project.GetState({ correlationId: "t" }), (s) => s.status === "IMPLEMENTING")
      const pending = yield* project.Pause({ correlationId: "t" })
      assert.isTrue(pending.pauseRequested)
      assert.strictEqual(pending.status, "IMPLEMENTING")
      yield* first.close // the step is interrupted with the pause still pending
      const cutAt = yield* journal.lastSeq(projectId)
      const second = yield* activate
      const again = yield* second.client(projectId)
      yield* again.Wake({ correlationId: "wake" })
      const paused = yield* poll(again.GetState({ correlationId: "t" }), (s) => s.status === "PAUSED", "5 seconds")
      assert.isFalse(paused.pauseRequested)
      assert.strictEqual(paused.cursor?.step, "IMPLEMENT")
      assert.notStrictEqual(paused.cursor?.phase, "running")
      // paused means idle: nothing more is journaled, and the event loop is free (timers fire on time)
      const seq = yield* journal.lastSeq(projectId)
      assert.strictEqual(seq, cutAt + 1, "only ExecutionPaused was appended")
      const t0 = Date.now()
      yield* Effect.sleep("200 millis")
      assert.isBelow(Date.now() - t0, 1_000)
      assert.strictEqual(yield* journal.lastSeq(projectId), seq)

      yield* again.Resume({ correlationId: "t" })
      const final = yield* poll(again.GetState({ correlationId: "t" }), (s) => s.status === "COMPLETED")
      assert.strictEqual(final.completedTasks, 3)
      const entries = yield* journal.read(projectId, 0, 1000)
      const restarted = entries.filter((e) => e.seq > cutAt && e.event._tag === "StepStarted")[0]
      if (restarted?.event._tag !== "StepStarted") return assert.fail("no step started after resume")
      assert.strictEqual(restarted.event.step, "IMPLEMENT")
      assert.strictEqual(restarted.event.attempt, 2)
      assert.deepStrictEqual(entries.map((e) => e.seq), entries.map((_, i) => i + 1))
    }).pipe(Effect.provide(env({ stepDuration: "300 millis" }))))

  it.scoped("stop interrupts the running step at once", () =>
    Effect.gen(function*() {
      const journal = yield* Journal
      const { client } = yield* activate
      const projectId = pid("stop")
      const project = yield* client(projectId)
      yield* project.Initialize(initialize())
      yield* poll(project.GetState({ correlationId: "t" }), (s) => s.status === "SELECTING")
      const started = Date.now()
      const stopped = yield* project.Stop({ correlationId: "t" })
      assert.strictEqual(stopped.status, "STOPPED")
      assert.isBelow(Date.now() - started, 2_000)
      const seq = yield* journal.lastSeq(projectId)
      yield* Effect.sleep("300 millis")
      assert.strictEqual(yield* journal.lastSeq(projectId), seq, "nothing runs after stop")
    }).pipe(Effect.provide(env({ stepDuration: "30 seconds" }))))

  it.scoped("8 executions with MAX_CONCURRENT_EXECUTIONS=5: never more than 5 run, the others wait QUEUED and start in arrival order", () =>
    Effect.gen(function*() {
      const journal = yield* Journal
      const queue = yield* ExecutionQueue
      const { client } = yield* activate
      const ids = Array.from({ length: 8 }, (_, i) => pid(`q${i}`))
      let maxRunning = 0
      let maxWaiting = 0
      const sampler = yield* Effect.forkScoped(
        Effect.forever(
          Effect.zipRight(
            Effect.map(queue.stats, (s) => {
              maxRunning = Math.max(maxRunning, s.running)
              maxWaiting = Math.max(maxWaiting, s.waiting)
            }),
            Effect.sleep("5 millis")
          )
        )
      )
      for (const id of ids) yield* (yield* client(id)).Initialize(initialize())
      for (const id of ids) {
        yield* poll((yield* client(id)).GetState({ correlationId: "t" }), (s) => s.status === "COMPLETED", "60 seconds")
      }
      yield* Fiber.interrupt(sampler)
      assert.strictEqual(maxRunning, 5)
      assert.strictEqual(maxWaiting, 3)
      const firstStart = yield* Effect.forEach(
        ids,
        (id) =>
          Effect.map(
            journal.read(id, 0, 1000),
            (entries) => entries.find((e) => e.event._tag === "StepStarted")?.ts ?? ""
          )
      )
      const lastEndOfFirstFive = yield* Effect.forEach(
        ids.slice(0, 5),
        (id) => Effect.map(journal.read(id, 0, 1000), (entries) => entries.at(-1)?.ts ?? "")
      )
      const waiting = firstStart.slice(5)
      assert.deepStrictEqual([...waiting].sort(), waiting, "the waiting three start in arrival order")
      const earliestEnd = [...lastEndOfFirstFive].sort()[0] ?? ""
      for (const start of waiting) assert.isTrue(start >= earliestEnd, "a waiting one starts only when a slot frees")
    }).pipe(Effect.provide(env({ stepDuration: "20 millis", tasks: 2 }))))
})
