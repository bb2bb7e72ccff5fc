import { CustomerId, ProjectId, TaskId } from "@devteam/domain/Ids"
import { encodeFrame, type JournalFrame } from "@devteam/domain/WsFrame"
import * as Outbox from "@devteam/server/ws/Outbox"
import { assert, describe, it } from "@effect/vitest"
import { FastCheck } from "effect"

const project = ProjectId.make("acme/outbox")
const other = ProjectId.make("acme/other")
const ts = "2025-01-14T18:00:00.000Z"

const frameJson = (frame: JournalFrame) => encodeFrame(frame).json

const update = (projectId: ProjectId, seq: number): JournalFrame => ({
  type: "execution-update",
  seq,
  ts,
  projectId,
  customerId: CustomerId.make("acme"),
  executionId: null,
  payload: { taskId: null, status: "IMPLEMENTING", progress: seq, event: "StepStarted" }
})
const log = (projectId: ProjectId, seq: number): JournalFrame => ({
  type: "execution-log",
  seq,
  ts,
  projectId,
  customerId: CustomerId.make("acme"),
  executionId: null,
  payload: {
    taskId: null,
    level: "info",
    message: `line ${seq}`,
    lines: [{ level: "info", message: `line ${seq}`, at: ts }]
  }
})
const taskUpdated = (projectId: ProjectId, seq: number): JournalFrame => ({
  type: "task-updated",
  seq,
  ts,
  projectId,
  customerId: CustomerId.make("acme"),
  executionId: null,
  payload: { taskId: TaskId.make("1.1"), change: "updated" }
})

/** A sink whose writes complete only when `flush` is called (a client that is not reading). */
const stalledSink = () => {
  const sent: Array<string> = []
  const pending: Array<() => void> = []
  let overflowed: string | undefined
  return {
    sent,
    overflowed: () => overflowed,
    flushAll: () => {
      while (pending.length > 0) pending.shift()?.()
    },
    sink: {
      send: (data: string, done: () => void) => {
        sent.push(data)
        pending.push(done)
      },
      overflow: (reason: string) => {
        overflowed = reason
      }
    } satisfies Outbox.OutboxSink
  }
}

const limits: Outbox.OutboxLimits = {
  highWaterBytes: 1,
  maxBufferedBytes: 10_000_000,
  maxBufferedFrames: 10_000,
  maxMergedLogChars: 1000
}

const parse = (data: string): { type: string; seq?: number; projectId?: string; payload?: { message?: string } } =>
  JSON.parse(data)

describe("Outbox", () => {
  it("sends straight through while the client keeps up", () => {
    const s = stalledSink()
    const outbox = Outbox.make(s.sink, { ...limits, highWaterBytes: 1_000_000 })
    for (let seq = 1; seq <= 5; seq++) outbox.pushFrame(project, update(project, seq), frameJson(update(project, seq)))
    assert.deepStrictEqual(s.sent.map((d) => parse(d).seq), [1, 2, 3, 4, 5])
    assert.strictEqual(outbox.stats().coalesced, 0)
  })

  it("when behind: updates coalesce (latest wins), logs merge losslessly, nothing else is dropped or reordered", () => {
    FastCheck.assert(
      FastCheck.property(
        FastCheck.array(FastCheck.tuple(FastCheck.constantFrom(0, 1, 2), FastCheck.boolean()), {
          minLength: 1,
          maxLength: 200
        }),
        (ops) => {
          const s = stalledSink()
          const outbox = Outbox.make(s.sink, limits)
          const seqs = new Map<string, number>([[project, 0], [other, 0]])
          const pushed: Array<JournalFrame> = []
          for (const [kind, second] of ops) {
            const p = second ? other : project
            const seq = (seqs.get(p) ?? 0) + 1
            seqs.set(p, seq)
            const frame = kind === 0 ? update(p, seq) : kind === 1 ? log(p, seq) : taskUpdated(p, seq)
            pushed.push(frame)
            outbox.pushFrame(p, frame, frameJson(frame))
          }
          while (s.sent.length < 10_000) {
            const before = s.sent.length
            s.flushAll()
            if (s.sent.length === before) break
          }
          const received = s.sent.map(parse)
          for (const p of [project, other]) {
            const mine = received.filter((f) => f.projectId === p)
            const seqsOut = mine.map((f) => f.seq ?? -1)
            // strictly increasing per project
            assert.isTrue(seqsOut.every((seq, i) => i === 0 || seq > (seqsOut[i - 1] ?? 0)))
            const sent = pushed.filter((f) => f.projectId === p)
            // every task-updated arrives
            assert.deepStrictEqual(
              mine.filter((f) => f.type === "task-updated").map((f) => f.seq),
              sent.filter((f) => f.type === "task-updated").map((f) => f.seq)
            )
            // every log line arrives, in order
            assert.deepStrictEqual(
              mine.filter((f) => f.type === "execution-log").flatMap((f) => (f.payload?.message ?? "").split("\n")),
              sent.flatMap((f) => (f.type === "execution-log" ? [f.payload.message] : []))
            )
            // the last frame of the project is delivered (latest wins)
            assert.strictEqual(seqsOut.at(-1), sent.at(-1)?.seq)
          }
        }
      ),
      { numRuns: 200 }
    )
  })

  it("reports overflow past its bounds and purges an unsubscribed project", () => {
    const s = stalledSink()
    const outbox = Outbox.make(s.sink, { ...limits, maxBufferedFrames: 10 })
    for (let seq = 1; seq <= 8; seq++) {
      outbox.pushFrame(project, taskUpdated(project, seq), frameJson(taskUpdated(project, seq)))
    }
    assert.strictEqual(outbox.stats().queuedFrames, 7)
    outbox.purge(project)
    assert.strictEqual(outbox.stats().queuedFrames, 0)
    for (let seq = 1; seq <= 12; seq++) {
      outbox.pushFrame(other, taskUpdated(other, seq), frameJson(taskUpdated(other, seq)))
    }
    assert.match(s.overflowed() ?? "", /more than 10 frames/)
  })
})
