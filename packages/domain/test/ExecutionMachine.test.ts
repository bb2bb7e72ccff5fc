import { VerificationResult, VerifyAttempt } from "@devteam/domain/Artifacts"
import { ExecutionCommand } from "@devteam/domain/ExecutionCommand"
import { decide, evolve, expectedStep, fold } from "@devteam/domain/ExecutionMachine"
import {
  type ExecutionStatus,
  ExecutionStatus as ExecutionStatusSchema,
  isActive,
  statusOfStep,
  type Step,
  steps
} from "@devteam/domain/ExecutionStatus"
import { TaskId } from "@devteam/domain/Ids"
import { InjectedTask, TaskPatch } from "@devteam/domain/Injection"
import { JournalEvent, LogLine, TaskListUpdated, VerifyCompleted } from "@devteam/domain/JournalEvent"
import { initial, progressOf, ProjectState, toExecutionState } from "@devteam/domain/ProjectState"
import { assert, describe, it } from "@effect/vitest"
import { Either, FastCheck as fc, Schema } from "effect"
import { at, config, failure, initialize, outcome, projectId, reach, task, taskCommands } from "./fixtures/machine.js"

const start = (step: Step, taskId: string | null, n = 0) =>
  ExecutionCommand.StartStep({ step, taskId: taskId === null ? null : TaskId.make(taskId), at: at(n) })

/** A state with the given status, reached through legal commands only. */
const stateIn = (status: ExecutionStatus): ProjectState => {
  const running = [
    initialize(1),
    start("SELECT", null, 2),
    ExecutionCommand.CompleteStep({ outcome: outcome("SELECT", "1.1", 3) })
  ]
  switch (status) {
    case "IDLE":
      return initial(projectId)
    case "QUEUED":
      return reach([initialize(1)]).state
    case "SELECTING":
      return reach([initialize(1), start("SELECT", null, 2)]).state
    case "PREPARING":
    case "IMPLEMENTING":
    case "VERIFYING":
    case "MERGING":
    case "PUSHING":
    case "UPDATING_TASKLIST": {
      const target = steps.find((s) => statusOfStep[s] === status) ?? "PREP"
      const cmds = [...running]
      for (const s of steps.slice(1, steps.indexOf(target))) {
        cmds.push(start(s, "1.1", 4), ExecutionCommand.CompleteStep({ outcome: outcome(s, "1.1", 5) }))
      }
      cmds.push(start(target, "1.1", 6))
      return reach(cmds).state
    }
    case "PAUSED":
      return reach([initialize(1), ExecutionCommand.Pause({ at: at(2) })]).state
    case "STOPPED":
      return reach([initialize(1), ExecutionCommand.Stop({ reason: "user", at: at(2) })]).state
    case "FAILED":
      return reach([
        initialize(1),
        start("SELECT", null, 2),
        ExecutionCommand.FailStep({ error: failure("SELECT", null), at: at(3) })
      ]).state
    case "COMPLETED":
      return reach([initialize(1), start("SELECT", null, 2), ExecutionCommand.Finish({ at: at(3) })]).state
  }
}

const allStatuses: ReadonlyArray<ExecutionStatus> = ExecutionStatusSchema.literals

const accepted = (state: ProjectState, command: ExecutionCommand) => Either.isRight(decide(state, command))

describe("ExecutionMachine", () => {
  it("reaches every one of the 13 statuses through legal commands", () => {
    for (const status of allStatuses) assert.strictEqual(stateIn(status).status, status, status)
  })

  describe("client commands, every status", () => {
    // status → [initialize, pause, resume, stop] accepted?
    const table: Record<ExecutionStatus, readonly [boolean, boolean, boolean, boolean]> = {
      IDLE: [true, false, false, false],
      QUEUED: [false, true, false, true],
      SELECTING: [false, true, false, true],
      PREPARING: [false, true, false, true],
      IMPLEMENTING: [false, true, false, true],
      VERIFYING: [false, true, false, true],
      MERGING: [false, true, false, true],
      PUSHING: [false, true, false, true],
      UPDATING_TASKLIST: [false, true, false, true],
      PAUSED: [false, false, true, true],
      STOPPED: [true, false, false, false],
      FAILED: [true, false, true, true],
      COMPLETED: [true, false, false, false]
    }
    for (const status of allStatuses) {
      it(status, () => {
        const state = stateIn(status)
        const [init, pause, resume, stop] = table[status]
        assert.strictEqual(accepted(state, initialize(9)), init, "initialize")
        assert.strictEqual(accepted(state, ExecutionCommand.Pause({ at: at(9) })), pause, "pause")
        assert.strictEqual(accepted(state, ExecutionCommand.Resume({ at: at(9) })), resume, "resume")
        assert.strictEqual(accepted(state, ExecutionCommand.Stop({ reason: "x", at: at(9) })), stop, "stop")
      })
    }
  })

  it("settings: registered and changed only with no active execution, the same settings again record nothing; delete forgets", () => {
    const settings = config()
    const every = ExecutionStatusSchema.literals
    for (const status of every) {
      const state = stateIn(status)
      const active = isActive(status)
      const configure = decide(state, ExecutionCommand.Configure({ config: settings, by: "alice", at: at(9) }))
      assert.strictEqual(Either.isLeft(configure), active, `configure in ${status}`)
      const remove = decide(state, ExecutionCommand.DeleteProject({ by: "alice", at: at(9) }))
      assert.strictEqual(Either.isLeft(remove), active, `delete in ${status}`)
      if (Either.isLeft(configure)) assert.strictEqual(configure.left._tag, "IllegalTransition")
    }
    const registered = reach([ExecutionCommand.Configure({ config: settings, by: "alice", at: at(1) })])
    assert.strictEqual(registered.state.status, "IDLE")
    assert.deepStrictEqual(registered.state.config, settings)
    assert.deepStrictEqual(
      decide(registered.state, ExecutionCommand.Configure({ config: settings, by: "bob", at: at(2) })),
      Either.right([])
    )
    const deleted = reach([
      ExecutionCommand.Configure({ config: settings, by: "alice", at: at(1) }),
      ExecutionCommand.DeleteProject({ by: "alice", at: at(2) })
    ])
    assert.deepStrictEqual(deleted.state, initial(projectId))
  })

  it("illegal transitions are IllegalTransition errors carrying the status (→ 409)", () => {
    const decision = decide(stateIn("COMPLETED"), ExecutionCommand.Pause({ at: at(1) }))
    assert.isTrue(Either.isLeft(decision))
    if (Either.isLeft(decision) && decision.left._tag === "IllegalTransition") {
      assert.strictEqual(decision.left.status, "COMPLETED")
      assert.strictEqual(decision.left.command, "pause")
    } else {
      assert.fail("expected IllegalTransition")
    }
  })

  it("runs a task through all seven steps and counts it completed", () => {
    const { state } = reach([initialize(1), ...taskCommands("1.1", 10)])
    assert.strictEqual(state.status, "UPDATING_TASKLIST")
    assert.deepStrictEqual(state.completedInExecution.map(String), ["1.1"])
    assert.strictEqual(state.completedTasks, 1)
    assert.strictEqual(state.currentTask, null)
    assert.strictEqual(expectedStep(state), "SELECT")
    assert.strictEqual(progressOf(state), 25)
  })

  it("the fix loop: a failed verdict sends the task back to IMPLEMENT with it; a passing one clears it", () => {
    const commands = taskCommands("1.1", 10)
    // SELECT, PREP, IMPLEMENT (start + complete each), then VERIFY started
    const { state: verifying } = reach([initialize(1), ...commands.slice(0, 7)])
    assert.strictEqual(verifying.cursor?.step, "VERIFY")
    const passed = outcome("VERIFY", "1.1", 20)
    if (passed._tag !== "VerifyCompleted") throw new Error("fixture")
    const failedResult = new VerificationResult({
      ...passed.result,
      success: false,
      attempts: [new VerifyAttempt({ attempt: 1, success: false, log: "npm test: exit 1", duration: 1 })]
    })
    const failed = new VerifyCompleted({ ...passed, result: failedResult })
    const { state: back } = reach([ExecutionCommand.CompleteStep({ outcome: failed })], verifying)
    assert.strictEqual(back.failedVerification?.success, false)
    assert.strictEqual(expectedStep(back), "IMPLEMENT")
    assert.isTrue(Either.isLeft(decide(back, ExecutionCommand.StartStep({ step: "MERGE", taskId: null, at: at(21) }))))
    const { state: again } = reach([
      ExecutionCommand.StartStep({ step: "IMPLEMENT", taskId: TaskId.make("1.1"), at: at(22) }),
      ExecutionCommand.CompleteStep({ outcome: outcome("IMPLEMENT", "1.1", 23) }),
      ExecutionCommand.StartStep({ step: "VERIFY", taskId: TaskId.make("1.1"), at: at(24) })
    ], back)
    assert.strictEqual(again.cursor?.attempt, 1)
    assert.isNotNull(again.failedVerification, "IMPLEMENT's prompt and VERIFY's attempt number read it")
    const { state: done } = reach([ExecutionCommand.CompleteStep({ outcome: outcome("VERIFY", "1.1", 25) })], again)
    assert.isNull(done.failedVerification)
    assert.strictEqual(expectedStep(done), "MERGE")
    // a journal written before the fix loop (no failedVerification anywhere) folds as before
    const encoded = Schema.encodeSync(ProjectState)(done)
    const { failedVerification: _, ...old } = encoded
    assert.isNull(Schema.decodeUnknownSync(ProjectState)(old).failedVerification)
  })

  it("progress never goes backwards within an execution: a larger list, a failed verification", () => {
    // 1 of 4 done: 25 %
    const { state: one } = reach([initialize(1), ...taskCommands("1.1", 10)])
    assert.strictEqual(progressOf(one), 25)
    // an injected task makes it 1 of 5 (20 %): the reported figure stays at 25 until passed
    const { state: larger } = reach([
      ExecutionCommand.StartStep({ step: "SELECT", taskId: null, at: at(30) }),
      ExecutionCommand.CompleteStep({ outcome: outcome("SELECT", "E1", 31, { completed: 1, total: 5 }) }),
      ExecutionCommand.StartStep({ step: "PREP", taskId: TaskId.make("E1"), at: at(32) }),
      ExecutionCommand.CompleteStep({ outcome: outcome("PREP", "E1", 33) }),
      ExecutionCommand.StartStep({ step: "IMPLEMENT", taskId: TaskId.make("E1"), at: at(34) }),
      ExecutionCommand.CompleteStep({ outcome: outcome("IMPLEMENT", "E1", 35) })
    ], one)
    assert.strictEqual(progressOf(larger), 31, "(1 + 0.55) / 5 passed the floor")
    assert.strictEqual(toExecutionState(larger, at(36)).progress, 31)
    const { state: selected } = reach([
      ExecutionCommand.StartStep({ step: "SELECT", taskId: null, at: at(30) }),
      ExecutionCommand.CompleteStep({ outcome: outcome("SELECT", "E1", 31, { completed: 1, total: 5 }) })
    ], one)
    assert.strictEqual(progressOf(selected), 25)
    // a failed verification sends the task back to IMPLEMENT: its steps no longer count, the figure stays
    const { state: verifying } = reach([
      ExecutionCommand.StartStep({ step: "VERIFY", taskId: TaskId.make("E1"), at: at(36) })
    ], larger)
    const passed = outcome("VERIFY", "E1", 37)
    if (passed._tag !== "VerifyCompleted") throw new Error("fixture")
    const failed = new VerifyCompleted({
      ...passed,
      result: new VerificationResult({ ...passed.result, success: false })
    })
    const { state: back } = reach([ExecutionCommand.CompleteStep({ outcome: failed })], verifying)
    assert.strictEqual(progressOf(back), 31)
    // a new execution reports its own figures from the start
    const { state: stopped } = reach([ExecutionCommand.Stop({ reason: "user", at: at(40) })], back)
    const { state: next } = reach([initialize(2)], stopped)
    assert.strictEqual(progressOf(next), 20)
    // a state folded before the floor existed decodes with none
    const { progressFloor: _, ...old } = Schema.encodeSync(ProjectState)(back)
    assert.strictEqual(Schema.decodeUnknownSync(ProjectState)(old).progressFloor, 0)
  })

  it("enforces step order: only the expected step may start", () => {
    const { state } = reach([initialize(1)])
    for (const step of steps) {
      assert.strictEqual(accepted(state, start(step, step === "SELECT" ? null : "1.1")), step === "SELECT", step)
    }
    const afterSelect =
      reach([start("SELECT", null), ExecutionCommand.CompleteStep({ outcome: outcome("SELECT", "1.1") })], state).state
    assert.strictEqual(expectedStep(afterSelect), "PREP")
    assert.isFalse(accepted(afterSelect, start("VERIFY", "1.1")))
    assert.isTrue(accepted(afterSelect, start("PREP", "1.1")))
  })

  it("a step result must match the running step and the current task", () => {
    const { state } = reach([
      initialize(1),
      start("SELECT", null),
      ExecutionCommand.CompleteStep({ outcome: outcome("SELECT", "1.1") }),
      start("PREP", "1.1")
    ])
    assert.isFalse(accepted(state, ExecutionCommand.CompleteStep({ outcome: outcome("IMPLEMENT", "1.1") })))
    assert.isFalse(accepted(state, ExecutionCommand.CompleteStep({ outcome: outcome("PREP", "9.9") })))
    assert.isTrue(accepted(state, ExecutionCommand.CompleteStep({ outcome: outcome("PREP", "1.1") })))
  })

  it("re-starting the in-flight step after a crash is accepted and counts the attempt", () => {
    const { state } = reach([
      initialize(1),
      start("SELECT", null),
      ExecutionCommand.CompleteStep({ outcome: outcome("SELECT", "1.1") }),
      start("PREP", "1.1")
    ])
    const again = reach([start("PREP", "1.1", 5)], state).state
    assert.strictEqual(again.cursor?.attempt, 2)
    assert.strictEqual(again.status, "PREPARING")
  })

  it("pause during a step is requested, then applied at the boundary", () => {
    const { state } = reach([initialize(1), start("SELECT", null)])
    const paused = reach([ExecutionCommand.Pause({ at: at(3) })], state).state
    assert.isTrue(paused.pauseRequested)
    assert.strictEqual(paused.status, "SELECTING")
    // a second pause is accepted and records nothing
    assert.deepStrictEqual(Either.getOrThrow(decide(paused, ExecutionCommand.Pause({ at: at(4) }))), [])
    // the next step may not start while a pause is pending
    const selected = reach([ExecutionCommand.CompleteStep({ outcome: outcome("SELECT", "1.1") })], paused).state
    assert.isFalse(accepted(selected, start("PREP", "1.1")))
    const atBoundary = reach([ExecutionCommand.PauseAtBoundary({ at: at(5) })], selected).state
    assert.strictEqual(atBoundary.status, "PAUSED")
    const resumed = reach([ExecutionCommand.Resume({ at: at(6) })], atBoundary).state
    assert.strictEqual(resumed.status, "QUEUED")
    assert.strictEqual(expectedStep(resumed), "PREP")
  })

  it("resume cancels a pending pause", () => {
    const { state } = reach([
      initialize(1),
      start("SELECT", null),
      ExecutionCommand.Pause({ at: at(3) }),
      ExecutionCommand.Resume({ at: at(4) })
    ])
    assert.isFalse(state.pauseRequested)
    assert.strictEqual(state.status, "SELECTING")
  })

  it("stop-on-error: a failed step makes the execution FAILED; resume re-runs that step", () => {
    const cmds = [
      initialize(1),
      start("SELECT", null),
      ExecutionCommand.CompleteStep({ outcome: outcome("SELECT", "1.1") }),
      start("PREP", "1.1"),
      ExecutionCommand.CompleteStep({ outcome: outcome("PREP", "1.1") }),
      start("IMPLEMENT", "1.1"),
      ExecutionCommand.CompleteStep({ outcome: outcome("IMPLEMENT", "1.1") }),
      start("VERIFY", "1.1"),
      ExecutionCommand.FailStep({ error: failure("VERIFY", "1.1"), at: at(9) })
    ]
    const { state } = reach(cmds)
    assert.strictEqual(state.status, "FAILED")
    assert.strictEqual(state.error?.step, "VERIFY")
    assert.strictEqual(toExecutionState(state, at(10)).error?.message, "VERIFY broke")
    for (const step of steps) assert.isFalse(accepted(state, start(step, "1.1")), `no step runs while FAILED: ${step}`)
    const resumed = reach([ExecutionCommand.Resume({ at: at(11) })], state).state
    assert.strictEqual(resumed.status, "QUEUED")
    assert.strictEqual(resumed.error, null)
    assert.strictEqual(expectedStep(resumed), "VERIFY")
    const rerun = reach([start("VERIFY", "1.1", 12)], resumed).state
    assert.strictEqual(rerun.cursor?.attempt, 2)
  })

  it("stopPoint completes the execution right after that task", () => {
    const { state } = reach([initialize(1, config({ stopPoint: TaskId.make("1.1") })), ...taskCommands("1.1", 10)])
    assert.strictEqual(state.status, "COMPLETED")
    assert.isNotNull(state.endTime)
  })

  it("nothing left → COMPLETED only from SELECT", () => {
    const selecting = stateIn("SELECTING")
    assert.isTrue(accepted(selecting, ExecutionCommand.Finish({ at: at(5) })))
    assert.isFalse(accepted(stateIn("PREPARING"), ExecutionCommand.Finish({ at: at(5) })))
  })

  it("a list already complete at the first SELECT: COMPLETED with its figures, not 0/0", () => {
    const state = reach([
      initialize(1),
      start("SELECT", null, 2),
      ExecutionCommand.Finish({ at: at(3), totalTasks: 7, completedTasks: 7 })
    ]).state
    assert.strictEqual(state.status, "COMPLETED")
    assert.deepStrictEqual([state.completedTasks, state.totalTasks], [7, 7])
  })

  it("stop interrupts any non-final status and new executions start from STOPPED/COMPLETED/FAILED", () => {
    for (const status of ["QUEUED", "IMPLEMENTING", "PAUSED", "FAILED"] as const) {
      const stopped = reach([ExecutionCommand.Stop({ reason: "user", at: at(20) })], stateIn(status)).state
      assert.strictEqual(stopped.status, "STOPPED")
      assert.strictEqual(reach([initialize(7)], stopped).state.status, "QUEUED")
    }
  })

  it("injection ids are unique and task updates of the running task are refused", () => {
    const injection = new InjectedTask({ task: task("E1"), mode: "priority", order: 1 })
    const { state } = reach([ExecutionCommand.InjectTask({ injection, position: 0, at: at(1) })])
    assert.strictEqual(state.injections.length, 1)
    const again = decide(state, ExecutionCommand.InjectTask({ injection, position: 0, at: at(2) }))
    assert.isTrue(Either.isLeft(again) && again.left._tag === "BadRequest")
    const implementing = stateIn("IMPLEMENTING")
    assert.isFalse(
      accepted(
        implementing,
        ExecutionCommand.UpdateTask({
          taskId: TaskId.make("1.1"),
          patch: new TaskPatch({ status: "skipped" }),
          at: at(9)
        })
      )
    )
    assert.isTrue(
      accepted(
        implementing,
        ExecutionCommand.UpdateTask({
          taskId: TaskId.make("2.1"),
          patch: new TaskPatch({ status: "skipped" }),
          at: at(9)
        })
      )
    )
  })

  it("task patches merge per task", () => {
    const id = TaskId.make("2.1")
    const { state } = reach([
      ExecutionCommand.UpdateTask({ taskId: id, patch: new TaskPatch({ title: "New" }), at: at(1) }),
      ExecutionCommand.UpdateTask({ taskId: id, patch: new TaskPatch({ status: "skipped" }), at: at(2) })
    ])
    assert.deepStrictEqual(state.patches.map(([tid, p]) => [tid, p.title, p.status]), [[id, "New", "skipped"]])
  })

  it("a tick drops the edit fields the file now carries, and the completed task's own status edit", () => {
    const edited = TaskId.make("2.1")
    const current = TaskId.make("1.1")
    const before = reach([
      ExecutionCommand.UpdateTask({
        taskId: edited,
        patch: new TaskPatch({ title: "New", description: "D" }),
        at: at(1)
      }),
      ExecutionCommand.UpdateTask({
        taskId: current,
        patch: new TaskPatch({ status: "pending", title: "T" }),
        at: at(1)
      })
    ]).state
    const tick = (editsInFile: ReadonlyArray<readonly [TaskId, TaskPatch]>) =>
      evolve(
        before,
        new TaskListUpdated({
          v: 1,
          at: at(2),
          taskId: current,
          commit: null,
          completedTasks: 1,
          totalTasks: 2,
          editsInFile
        })
      )
    const patches = (state: ProjectState) => state.patches.map(([tid, p]) => [tid, p.title, p.description, p.status])
    assert.deepStrictEqual(patches(tick([[edited, new TaskPatch({ title: "New" })]])), [
      [edited, undefined, "D", undefined],
      [current, "T", undefined, undefined]
    ])
    // a value written earlier than the journal's latest one stays to be written
    assert.deepStrictEqual(
      patches(
        tick([[edited, new TaskPatch({ title: "Old", description: "D" })], [current, new TaskPatch({ title: "T" })]])
      ),
      [
        [edited, "New", undefined, undefined]
      ]
    )
  })

  it("log batches are journaled but change no state", () => {
    const { state } = reach([initialize(1)])
    const decision = Either.getOrThrow(
      decide(
        state,
        ExecutionCommand.AppendLogs({
          taskId: null,
          step: null,
          lines: [new LogLine({ level: "info", message: "hi", at: at(2) })],
          at: at(2)
        })
      )
    )
    assert.strictEqual(decision.length, 1)
    const [event] = decision
    assert.isDefined(event)
    if (event !== undefined) assert.strictEqual(evolve(state, event), state)
    assert.deepStrictEqual(
      Either.getOrThrow(decide(state, ExecutionCommand.AppendLogs({ taskId: null, step: null, lines: [], at: at(2) }))),
      []
    )
  })

  it("keeps the last 50 log lines", () => {
    let cmds: Array<ExecutionCommand> = [initialize(1)]
    for (let i = 0; i < 40; i++) {
      cmds = [...cmds, ExecutionCommand.Pause({ at: at(i) }), ExecutionCommand.Resume({ at: at(i) })]
    }
    const { state } = reach(cmds)
    assert.strictEqual(state.logs.length, 50)
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// Property tests: random command sequences driven through decide/evolve.

const taskIds = ["1.1", "1.2", "2.1", "E1"]

const commandArb: fc.Arbitrary<(state: ProjectState, n: number) => ExecutionCommand> = fc.oneof(
  fc.constant((_s: ProjectState, n: number) => initialize(n)),
  fc.constant((_s: ProjectState, n: number) => ExecutionCommand.Pause({ at: at(n) })),
  fc.constant((_s: ProjectState, n: number) => ExecutionCommand.Resume({ at: at(n) })),
  fc.constant((_s: ProjectState, n: number) => ExecutionCommand.Stop({ reason: "stop", at: at(n) })),
  fc.constant((_s: ProjectState, n: number) => ExecutionCommand.Finish({ at: at(n) })),
  fc.constant((_s: ProjectState, n: number) => ExecutionCommand.PauseAtBoundary({ at: at(n) })),
  // the pipeline's own next move (most sequences should make progress)
  fc.constant((s: ProjectState, n: number) =>
    start(expectedStep(s), expectedStep(s) === "SELECT" ? null : (s.currentTask?.id ?? null), n)
  ),
  fc.constant((s: ProjectState, n: number) =>
    ExecutionCommand.CompleteStep({
      outcome: outcome(s.cursor?.step ?? "SELECT", s.currentTask?.id ?? taskIds[n % taskIds.length] ?? "1.1", n, {
        completed: s.completedTasks,
        total: 4
      })
    })
  ),
  fc.constant((s: ProjectState, n: number) =>
    ExecutionCommand.FailStep({ error: failure(s.cursor?.step ?? "SELECT", s.currentTask?.id ?? null, n), at: at(n) })
  ),
  fc.constantFrom(...steps).map((step) => (_s: ProjectState, n: number) => start(step, taskIds[n % 4] ?? null, n)),
  fc.constantFrom(...taskIds).map((id) => (_s: ProjectState, n: number) =>
    ExecutionCommand.UpdateTask({ taskId: TaskId.make(id), patch: new TaskPatch({ status: "skipped" }), at: at(n) })
  ),
  fc.constantFrom(...taskIds).map((id) => (_s: ProjectState, n: number) =>
    ExecutionCommand.InjectTask({
      injection: new InjectedTask({ task: task(id), mode: "priority", order: n + 1 }),
      position: 0,
      at: at(n)
    })
  ),
  fc.constant((_s: ProjectState, n: number) =>
    ExecutionCommand.AppendLogs({
      taskId: null,
      step: null,
      lines: [new LogLine({ level: "info", message: `l${n}`, at: at(n) })],
      at: at(n)
    })
  )
)

const runSequence = (makers: ReadonlyArray<(state: ProjectState, n: number) => ExecutionCommand>) => {
  let state = initial(projectId)
  const journal: Array<JournalEvent> = []
  let rejected = 0
  makers.forEach((make, n) => {
    const before = state
    const decision = decide(state, make(state, n))
    if (Either.isLeft(decision)) {
      rejected++
      assert.strictEqual(state, before, "a rejected command changes nothing")
      return
    }
    for (const event of decision.right) {
      state = evolve(state, event)
      journal.push(event)
    }
  })
  return { state, journal, rejected }
}

const encodeJournal = Schema.encodeSync(Schema.Array(JournalEvent))
const decodeJournal = Schema.decodeUnknownSync(Schema.Array(JournalEvent))

describe("ExecutionMachine properties", () => {
  it.prop(
    "fold(journal) equals applying the accepted commands one by one",
    [fc.array(commandArb, { maxLength: 120 })],
    ([makers]) => {
      const { journal, state } = runSequence(makers)
      assert.deepStrictEqual(fold(initial(projectId), journal), state)
    },
    { fastCheck: { numRuns: 300 } }
  )

  it.prop("the journal survives JSON encoding: decode(encode(journal)) folds to the same state", [
    fc.array(commandArb, { maxLength: 80 })
  ], ([makers]) => {
    const { journal, state } = runSequence(makers)
    const roundTripped = decodeJournal(JSON.parse(JSON.stringify(encodeJournal(journal))))
    assert.deepStrictEqual(fold(initial(projectId), roundTripped), state)
  }, { fastCheck: { numRuns: 150 } })

  it.prop("invariants hold after every command", [fc.array(commandArb, { maxLength: 120 })], ([makers]) => {
    let state = initial(projectId)
    makers.forEach((make, n) => {
      const decision = decide(state, make(state, n))
      const before = progressOf(state)
      const sameExecution = Either.isRight(decision) &&
        !decision.right.some((e) => e._tag === "ExecutionInitialized" || e._tag === "ProjectDeleted")
      if (Either.isRight(decision)) state = fold(state, decision.right)
      const progress = progressOf(state)
      assert.isTrue(progress >= 0 && progress <= 100, `progress ${progress}`)
      if (sameExecution) assert.isTrue(progress >= before, `progress went back: ${before} → ${progress}`)
      assert.isTrue(state.logs.length <= 50)
      if (state.status === "FAILED") assert.isNotNull(state.error)
      if (state.cursor?.phase === "running") assert.notStrictEqual(state.status, "PAUSED")
      assert.isTrue(new Set(state.injections.map((i) => i.task.id)).size === state.injections.length)
    })
  }, { fastCheck: { numRuns: 200 } })
})
