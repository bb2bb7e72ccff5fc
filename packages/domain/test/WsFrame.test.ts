/**
 * The terminal frame: every execution ends with exactly one `execution-completed` frame whose
 * `payload.status` is its terminal status (COMPLETED, FAILED or STOPPED), so a client can always
 * wait for it. A FAILED execution may be resumed: it then ends again, with its own frame.
 */
import { ExecutionCommand } from "@devteam/domain/ExecutionCommand"
import { evolve } from "@devteam/domain/ExecutionMachine"
import type { ExecutionStatus } from "@devteam/domain/ExecutionStatus"
import { TaskId } from "@devteam/domain/Ids"
import { initial } from "@devteam/domain/ProjectState"
import { type JournalFrame, toFrame } from "@devteam/domain/WsFrame"
import { assert, describe, it } from "@effect/vitest"
import { Option } from "effect"
import { at, failure, initialize, projectId, reach, taskCommands } from "./fixtures/machine.js"

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
