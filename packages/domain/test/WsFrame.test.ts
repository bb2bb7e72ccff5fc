/**
 * The terminal frame: every execution ends with exactly one `execution-completed` frame whose
 * `payload.status` is its terminal status (COMPLETED, FAILED or STOPPED), so a client can always
 * wait for it. A FAILED execution may be resumed: it then ends again, with its own frame.
 */
import { ExecutionCommand } from "@devteam/domain/ExecutionCommand"
import { evolve } from "@devteam/domain/ExecutionMachine"
import type { ExecutionStatus } from "@devteam/domain/ExecutionStatus"
import { TaskId } from "@devteam/domain/Ids"
import { InjectedTask, TaskPatch } from "@devteam/domain/Injection"
import { LogLine } from "@devteam/domain/JournalEvent"
import { initial } from "@devteam/domain/ProjectState"
import { encodeFrame, JournalFrame, toFrame } from "@devteam/domain/WsFrame"
import { assert, describe, it } from "@effect/vitest"
import { Option, Schema } from "effect"
import { at, failure, initialize, projectId, reach, task, taskCommands } from "./fixtures/machine.js"

/** The frames a journal produces, seq by seq, as the gateway sends them. */
const framesOf = (commands: ReadonlyArray<ExecutionCommand>): ReadonlyArray<JournalFrame> => {
  const { events } = reach(commands)
  let state = initial(projectId)
  return events.flatMap((event, i) => {
    state = evolve(state, event)
    return Option.toArray(toFrame({ seq: i + 1, ts: event.at, event }, state))
  })
}

const terminal = (frames: ReadonlyArray<JournalFrame>) =>
  frames.flatMap((f) => f.type === "execution-completed" ? [{ seq: f.seq, ...f.payload }] : [])

const start = (step: "SELECT" | "PREP" | "IMPLEMENT", taskId: string | null, n: number) =>
  ExecutionCommand.StartStep({ step, taskId: taskId === null ? null : TaskId.make(taskId), at: at(n) })

const lastIs = (frames: ReadonlyArray<JournalFrame>, status: ExecutionStatus) => {
  const ends = terminal(frames)
  assert.strictEqual(ends.length, 1, JSON.stringify(ends))
  assert.strictEqual(ends[0]?.status, status)
  // the terminal frame is the execution's last frame
  assert.strictEqual(frames.at(-1)?.type, "execution-completed")
}

describe("execution-completed: one per terminal state", () => {
  it("COMPLETED: all tasks done", () => {
    const frames = framesOf([
      initialize(1),
      ...taskCommands("1.1", 2, { completed: 0, total: 1 }),
      start("SELECT", null, 20),
      ExecutionCommand.Finish({ at: at(21) })
    ])
    lastIs(frames, "COMPLETED")
    assert.strictEqual(terminal(frames)[0]?.reason, "finished")
  })

  it("FAILED: the execution-error frame, then execution-completed FAILED naming the error", () => {
    const error = failure("IMPLEMENT", "1.1", 9)
    const frames = framesOf([
      initialize(1),
      ...taskCommands("1.1", 2).slice(0, 4),
      start("IMPLEMENT", "1.1", 8),
      ExecutionCommand.FailStep({ error, at: at(9) })
    ])
    lastIs(frames, "FAILED")
    const end = terminal(frames)[0]
    assert.strictEqual(end?.reason, "failed")
    assert.strictEqual(end?.errorId, error.errorId)
    const errorFrame = frames.at(-2)
    assert.isTrue(errorFrame?.type === "execution-error" && errorFrame.payload.message === "IMPLEMENT broke")
  })

  it("STOPPED: a stop of a running execution", () => {
    const frames = framesOf([
      initialize(1),
      start("SELECT", null, 2),
      ExecutionCommand.Stop({ reason: "user asked", at: at(3) })
    ])
    lastIs(frames, "STOPPED")
    assert.strictEqual(terminal(frames)[0]?.reason, "user asked")
  })

  it("STOPPED: a stop of a queued or paused execution", () => {
    lastIs(framesOf([initialize(1), ExecutionCommand.Stop({ reason: "r", at: at(2) })]), "STOPPED")
    lastIs(
      framesOf([
        initialize(1),
        ExecutionCommand.Pause({ at: at(2) }),
        ExecutionCommand.Stop({ reason: "r", at: at(3) })
      ]),
      "STOPPED"
    )
  })

  it("a FAILED execution resumed ends again: FAILED, then COMPLETED (the latest is the outcome)", () => {
    const frames = framesOf([
      initialize(1),
      start("SELECT", null, 2),
      ExecutionCommand.FailStep({ error: failure("SELECT", null, 3), at: at(3) }),
      ExecutionCommand.Resume({ at: at(4) }),
      start("SELECT", null, 5),
      ExecutionCommand.Finish({ at: at(6) })
    ])
    assert.deepStrictEqual(terminal(frames).map((e) => e.status), ["FAILED", "COMPLETED"])
  })

  it("a FAILED execution stopped: FAILED, then STOPPED", () => {
    const frames = framesOf([
      initialize(1),
      start("SELECT", null, 2),
      ExecutionCommand.FailStep({ error: failure("SELECT", null, 3), at: at(3) }),
      ExecutionCommand.Stop({ reason: "given up", at: at(4) })
    ])
    assert.deepStrictEqual(terminal(frames).map((e) => e.status), ["FAILED", "STOPPED"])
  })

  it("pause and resume send no terminal frame", () => {
    const frames = framesOf([
      initialize(1),
      ExecutionCommand.Pause({ at: at(2) }),
      ExecutionCommand.Resume({ at: at(3) })
    ])
    assert.deepStrictEqual(terminal(frames), [])
  })
})

describe("encodeFrame", () => {
  it("gives the Schema encode's text for every frame type", () => {
    const log = (n: number, lines: ReadonlyArray<LogLine>, step: "SELECT" | null) =>
      ExecutionCommand.AppendLogs({ taskId: null, step, lines, at: at(n) })
    const frames = [
      ...framesOf([
        initialize(1),
        ExecutionCommand.InjectTask({
          injection: new InjectedTask({ task: task("E1"), mode: "priority", order: 1 }),
          position: 0,
          at: at(2)
        }),
        ExecutionCommand.UpdateTask({ taskId: TaskId.make("E1"), patch: new TaskPatch({ title: "New" }), at: at(3) }),
        ExecutionCommand.Pause({ at: at(4) }),
        ExecutionCommand.Resume({ at: at(5) }),
        ...taskCommands("1.1", 6),
        start("SELECT", null, 30),
        log(31, [
          new LogLine({ level: "info", message: "one", at: at(31) }),
          new LogLine({ level: "warn", message: "two", at: at(31) })
        ], "SELECT"),
        log(32, [new LogLine({ level: "debug", message: "three", at: at(32) })], null),
        ExecutionCommand.FailStep({ error: failure("SELECT", null, 33), at: at(33) }),
        ExecutionCommand.Resume({ at: at(34) }),
        start("SELECT", null, 35),
        ExecutionCommand.Finish({ at: at(36) })
      ]),
      ...framesOf([initialize(1), ExecutionCommand.Stop({ reason: "user asked", at: at(2) })])
    ]
    const bySchema = Schema.encodeSync(JournalFrame)
    for (const frame of frames) assert.strictEqual(encodeFrame(frame).json, JSON.stringify(bySchema(frame)))
    assert.deepStrictEqual(
      [...new Set(frames.map((f) => f.type))].sort(),
      ["execution-completed", "execution-error", "execution-log", "task-updated", "execution-update"].sort()
    )
  })
})
