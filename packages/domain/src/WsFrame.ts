/**
 * WebSocket `/ws/devteam`: server frames (one envelope for all) and client messages.
 * `seq` is the project's journal sequence, strictly increasing per project across every frame type.
 */
import { Option, Schema } from "effect"
import { ErrorCategory } from "./ExecutionError.js"
import { ExecutionStatus, Step } from "./ExecutionStatus.js"
import { CustomerId, ExecutionId, ProjectId, TaskId, Timestamp } from "./Ids.js"
import { type JournalEvent, LogLevel, LogLine } from "./JournalEvent.js"
import { progressOf, type ProjectState } from "./ProjectState.js"
import { Task } from "./Task.js"

const Envelope = <T extends string, P extends Schema.Schema.Any>(type: T, payload: P) =>
  Schema.Struct({
    type: Schema.Literal(type),
    seq: Schema.Int.pipe(Schema.nonNegative()),
    ts: Timestamp,
    projectId: ProjectId,
    customerId: CustomerId,
    executionId: Schema.NullOr(ExecutionId),
    payload
  })

export const ExecutionUpdatePayload = Schema.Struct({
  taskId: Schema.NullOr(TaskId),
  status: ExecutionStatus,
  progress: Schema.Number,
  step: Schema.optional(Step),
  event: Schema.String
})

export const ExecutionLogPayload = Schema.Struct({
  taskId: Schema.NullOr(TaskId),
  level: LogLevel,
  /** The batch's lines joined by newlines (redacted). */
  message: Schema.String,
  step: Schema.optional(Schema.NullOr(Step)),
  lines: Schema.optional(Schema.Array(LogLine))
})

export const ExecutionErrorPayload = Schema.Struct({
  taskId: Schema.NullOr(TaskId),
  errorId: Schema.String,
  step: Step,
  category: ErrorCategory,
  message: Schema.String,
  status: ExecutionStatus
})

/**
 * The end of an execution: `status` is COMPLETED, FAILED or STOPPED. A FAILED execution rests until
 * someone resumes it (then it runs on and ends again with another `execution-completed`) or stops
 * it (`execution-completed` STOPPED): the latest one of an execution is its outcome.
 */
export const ExecutionCompletedPayload = Schema.Struct({
  status: ExecutionStatus,
  /** "finished" or "stop-point" (COMPLETED), "failed" (FAILED), the stop's reason (STOPPED). */
  reason: Schema.String,
  /** FAILED: the error (`GET /api/devteam/errors/{executionId}/{errorId}`). */
  errorId: Schema.optional(Schema.String),
  completedTasks: Schema.Int,
  totalTasks: Schema.Int,
  progress: Schema.Number
})

export const TaskUpdatedPayload = Schema.Struct({
  taskId: TaskId,
  change: Schema.Literal("updated", "injected"),
  task: Schema.optional(Task),
  patch: Schema.optional(Schema.Unknown),
  position: Schema.optional(Schema.Int)
})

export const ExecutionUpdateFrame = Envelope("execution-update", ExecutionUpdatePayload)
export const ExecutionLogFrame = Envelope("execution-log", ExecutionLogPayload)
export const ExecutionErrorFrame = Envelope("execution-error", ExecutionErrorPayload)
export const ExecutionCompletedFrame = Envelope("execution-completed", ExecutionCompletedPayload)
export const TaskUpdatedFrame = Envelope("task-updated", TaskUpdatedPayload)

/** Frames that come from the journal and therefore carry a real seq. */
export const JournalFrame = Schema.Union(
  ExecutionUpdateFrame,
  ExecutionLogFrame,
  ExecutionErrorFrame,
  ExecutionCompletedFrame,
  TaskUpdatedFrame
)
export type JournalFrame = typeof JournalFrame.Type

/**
 * A journal frame with its JSON text. The journal encodes each frame once, when it appends it; the
 * text goes as is through the bus and the feeds to every socket.
 */
export interface EncodedFrame {
  readonly frame: JournalFrame
  readonly json: string
}

const encodeJournalFrame = Schema.encodeSync(JournalFrame)

type PlainFrame = Exclude<JournalFrame, { readonly type: "task-updated" }>

/** The payload of a frame of `PlainFrame`, its keys in the schema's order. */
const plainPayloadOf = (frame: PlainFrame): unknown => {
  switch (frame.type) {
    case "execution-update": {
      const p = frame.payload
      return { taskId: p.taskId, status: p.status, progress: p.progress, step: p.step, event: p.event }
    }
    case "execution-log": {
      const p = frame.payload
      return {
        taskId: p.taskId,
        level: p.level,
        message: p.message,
        step: p.step,
        lines: p.lines?.map((line) => ({ level: line.level, message: line.message, at: line.at }))
      }
    }
    case "execution-error": {
      const p = frame.payload
      return {
        taskId: p.taskId,
        errorId: p.errorId,
        step: p.step,
        category: p.category,
        message: p.message,
        status: p.status
      }
    }
    case "execution-completed": {
      const p = frame.payload
      return {
        status: p.status,
        reason: p.reason,
        errorId: p.errorId,
        completedTasks: p.completedTasks,
        totalTasks: p.totalTasks,
        progress: p.progress
      }
    }
  }
}

/**
 * The encoded form of a frame whose fields are all strings, numbers, literals and nulls (no
 * transformation: encoded = typed), with the keys in the schema's order — what the Schema encode
 * produces, without re-validating a value the journal just built (the encode was most of a frame's
 * cost). `task-updated` (a Task, an unknown patch) goes through the schema. The WsFrame test checks
 * both give the same text on every frame type.
 */
const plainOf = (frame: JournalFrame): unknown =>
  frame.type === "task-updated" ? encodeJournalFrame(frame) : {
    type: frame.type,
    seq: frame.seq,
    ts: frame.ts,
    projectId: frame.projectId,
    customerId: frame.customerId,
    executionId: frame.executionId,
    payload: plainPayloadOf(frame)
  }

export const encodeFrame = (frame: JournalFrame): EncodedFrame => ({ frame, json: JSON.stringify(plainOf(frame)) })

export const SubscribedFrame = Schema.Struct({
  type: Schema.Literal("subscribed"),
  ts: Timestamp,
  projectId: ProjectId,
  payload: Schema.Struct({ projectId: ProjectId, lastSeq: Schema.Int })
})
export const ReplayCompleteFrame = Schema.Struct({
  type: Schema.Literal("replay-complete"),
  ts: Timestamp,
  projectId: ProjectId,
  payload: Schema.Struct({ projectId: ProjectId, lastSeq: Schema.Int })
})
export const ErrorFrame = Schema.Struct({
  type: Schema.Literal("error"),
  ts: Timestamp,
  payload: Schema.Struct({ message: Schema.String, projectId: Schema.optional(Schema.String) })
})
export const PongFrame = Schema.Struct({ type: Schema.Literal("pong"), ts: Timestamp })

export const ServerFrame = Schema.Union(JournalFrame, SubscribedFrame, ReplayCompleteFrame, ErrorFrame, PongFrame)
export type ServerFrame = typeof ServerFrame.Type

export const ClientMessage = Schema.Union(
  Schema.Struct({
    type: Schema.Literal("subscribe"),
    projectId: ProjectId,
    since: Schema.optional(Schema.Int.pipe(Schema.nonNegative()))
  }),
  Schema.Struct({ type: Schema.Literal("unsubscribe"), projectId: ProjectId }),
  Schema.Struct({ type: Schema.Literal("ping") })
)
export type ClientMessage = typeof ClientMessage.Type

/** Largest client message accepted (bigger → close 1009). */
export const MAX_CLIENT_MESSAGE_BYTES = 64 * 1024

const levelRank: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 }

/**
 * The frame a journal event produces, given the project state right after it (for status and
 * progress). Every journal event produces exactly one frame, so frame seqs have no gaps.
 */
export const toFrame = (
  entry: { readonly seq: number; readonly ts: Timestamp; readonly event: JournalEvent },
  after: ProjectState
): Option.Option<JournalFrame> => {
  const base = {
    seq: entry.seq,
    ts: entry.ts,
    projectId: after.projectId,
    customerId: after.customerId,
    executionId: after.executionId
  }
  const event = entry.event
  const update = (taskId: TaskId | null, step?: Step) =>
    Option.some<JournalFrame>({
      ...base,
      type: "execution-update",
      payload: {
        taskId,
        status: after.status,
        progress: progressOf(after),
        ...(step === undefined ? {} : { step }),
        event: event._tag
      }
    })
  // Every terminal status (COMPLETED, FAILED, STOPPED) has its own event, hence its own frame.
  const completed = (reason: string, errorId?: string) =>
    Option.some<JournalFrame>({
      ...base,
      type: "execution-completed",
      payload: {
        status: after.status,
        reason,
        ...(errorId === undefined ? {} : { errorId }),
        completedTasks: after.completedTasks,
        totalTasks: after.totalTasks,
        progress: progressOf(after)
      }
    })
  switch (event._tag) {
    case "ExecutionInitialized":
    case "PauseRequested":
    case "ExecutionPaused":
    case "ExecutionResumed":
      return update(after.currentTask?.id ?? null, after.cursor?.step)
    case "StepStarted":
      return update(event.taskId, event.step)
    case "TaskSelected":
      return update(event.task.id, "SELECT")
    case "PrepCompleted":
      return update(event.taskId, "PREP")
    case "ImplementCompleted":
      return update(event.taskId, "IMPLEMENT")
    case "VerifyCompleted":
      return update(event.taskId, "VERIFY")
    case "MergeCompleted":
      return update(event.taskId, "MERGE")
    case "PushCompleted":
      return update(event.taskId, "PUSH")
    case "TaskListUpdated":
      return update(event.taskId, "UPDATE_TASKLIST")
    case "StepFailed":
      return Option.some({
        ...base,
        type: "execution-error",
        payload: {
          taskId: event.error.taskId,
          errorId: event.error.errorId,
          step: event.error.step,
          category: event.error.category,
          message: event.error.message,
          status: after.status
        }
      })
    case "ExecutionCompleted":
      return completed(event.reason)
    case "ExecutionFailed":
      return completed("failed", event.errorId)
    case "ExecutionStopped":
      return completed(event.reason)
    case "TaskInjected":
      return Option.some({
        ...base,
        type: "task-updated",
        payload: {
          taskId: event.injection.task.id,
          change: "injected",
          task: event.injection.task,
          position: event.position
        }
      })
    case "TaskUpdated":
      return Option.some({
        ...base,
        type: "task-updated",
        payload: { taskId: event.taskId, change: "updated", patch: event.patch }
      })
    case "LogBatch": {
      const level = event.lines.reduce<LogLevel>(
        (max, line) => (levelRank[line.level] > levelRank[max] ? line.level : max),
        "debug"
      )
      return Option.some({
        ...base,
        type: "execution-log",
        payload: {
          taskId: event.taskId,
          level,
          step: event.step,
          message: event.lines.map((line) => line.message).join("\n"),
          lines: event.lines
        }
      })
    }
    case "SingleStepCompleted":
      return update(event.taskId, event.step)
    case "ProjectConfigured":
    case "ProjectDeleted":
      return Option.none()
  }
}
