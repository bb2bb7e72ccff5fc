/**
 * The pure execution state machine of a project.
 *
 * - `decide(state, command)` → the events to journal, or a tagged error (illegal transitions are
 *   `IllegalTransition`, HTTP 409). It never changes anything; an empty array means "accepted,
 *   nothing to record" (e.g. a second pause while one is pending).
 * - `evolve(state, event)` → the next state. Total: any journaled event folds.
 * - `fold(initial, events)` → the state after a journal.
 * - `evolveEach(state, events)` → each event with the state right after it.
 *
 * The entity evolves its state with `decide`'s events (`evolveEach`), appends them to the journal
 * (the commit point) with the states the projections need, and only then takes the last state as
 * its own, so a state rebuilt by `fold` on re-activation equals the state before.
 */
import { Array as Arr, Either, Schema } from "effect"
import { BadRequest, IllegalTransition } from "./Errors.js"
import type { ExecutionCommand } from "./ExecutionCommand.js"
import { ExecutionConfig } from "./ExecutionConfig.js"
import { isActive, isRunning, nextStepAfter, statusOfStep, type Step } from "./ExecutionStatus.js"
import type { TaskId, Timestamp } from "./Ids.js"
import { InjectedTask, TaskPatch } from "./Injection.js"
import {
  ExecutionCompleted,
  ExecutionFailed,
  ExecutionInitialized,
  ExecutionPaused,
  ExecutionResumed,
  ExecutionStopped,
  type JournalEvent,
  LogBatch,
  PauseRequested,
  ProjectConfigured,
  ProjectDeleted,
  StepFailed,
  stepOfOutcome,
  StepStarted,
  TaskInjected,
  type TaskListUpdated,
  TaskUpdated
} from "./JournalEvent.js"
import { currentProgress, initial, LOG_TAIL, ProjectState, StepCursor } from "./ProjectState.js"
import { Task } from "./Task.js"

export type DecideError = IllegalTransition | BadRequest

export type Decision = Either.Either<ReadonlyArray<JournalEvent>, DecideError>

const illegal = (state: ProjectState, command: string, message: string): Decision =>
  Either.left(new IllegalTransition({ command, status: state.status, message }))

const accept = (...events: ReadonlyArray<JournalEvent>): Decision => Either.right(events)

/**
 * The step the pipeline must run next: the in-flight or failed one again, else the successor —
 * except after a failed verification (the fix loop), which goes back to IMPLEMENT.
 */
export const expectedStep = (state: ProjectState): Step => {
  const cursor = state.cursor
  if (cursor === null) return "SELECT"
  if (cursor.phase !== "done") return cursor.step
  if (cursor.step === "VERIFY" && state.failedVerification !== null) return "IMPLEMENT"
  return nextStepAfter(cursor.step) ?? "SELECT"
}

/** Whether a single step (`/prep`, `/implement`, `/verify`, `/tasks/next`) may run now. */
export const canRunSingleStep = (state: ProjectState, command: string): Either.Either<void, IllegalTransition> =>
  isActive(state.status)
    ? Either.left(
      new IllegalTransition({
        command,
        status: state.status,
        message: `automation is ${state.status} for this project; single steps run only when no execution is active`
      })
    )
    : Either.right(undefined)

// Events are built from already-typed command fields, so constructors skip re-validation (`true`).
export const decide = (state: ProjectState, command: ExecutionCommand): Decision => {
  switch (command._tag) {
    case "Initialize": {
      if (isActive(state.status)) {
        return illegal(state, "initialize", `an execution is already ${state.status} for this project; stop it first`)
      }
      return accept(
        new ExecutionInitialized({
          v: 1,
          at: command.at,
          executionId: command.executionId,
          eventId: command.eventId,
          config: command.config
        }, true)
      )
    }
    case "Pause": {
      if (!isRunning(state.status)) {
        return illegal(state, "pause", `only a running execution can be paused (status is ${state.status})`)
      }
      if (state.pauseRequested) return accept()
      return state.cursor?.phase === "running"
        ? accept(new PauseRequested({ v: 1, at: command.at }, true))
        : accept(new ExecutionPaused({ v: 1, at: command.at }, true))
    }
    case "Resume": {
      if (state.status === "PAUSED" || state.status === "FAILED" || (isRunning(state.status) && state.pauseRequested)) {
        return accept(new ExecutionResumed({ v: 1, at: command.at, from: state.status }, true))
      }
      return illegal(state, "resume", `only a PAUSED or FAILED execution can be resumed (status is ${state.status})`)
    }
    case "Stop": {
      if (isActive(state.status) || state.status === "FAILED") {
        return accept(new ExecutionStopped({ v: 1, at: command.at, reason: command.reason }, true))
      }
      return illegal(state, "stop", `there is no execution to stop (status is ${state.status})`)
    }
    case "InjectTask": {
      const id = command.injection.task.id
      if (state.injections.some((i) => i.task.id === id)) {
        return Either.left(new BadRequest({ message: `a task with id ${id} was already injected` }))
      }
      return accept(
        new TaskInjected({ v: 1, at: command.at, injection: command.injection, position: command.position }, true)
      )
    }
    case "UpdateTask": {
      if (state.currentTask?.id === command.taskId && state.cursor?.phase === "running" && isRunning(state.status)) {
        return illegal(state, "updateTask", `task ${command.taskId} is being worked on; pause or stop first`)
      }
      return accept(new TaskUpdated({ v: 1, at: command.at, taskId: command.taskId, patch: command.patch }, true))
    }
    case "StartStep": {
      if (!isRunning(state.status)) {
        return illegal(state, "startStep", `steps run only while the execution runs (status is ${state.status})`)
      }
      if (state.pauseRequested) return illegal(state, "startStep", "a pause is pending: pause at this boundary instead")
      const expected = expectedStep(state)
      if (command.step !== expected) {
        return illegal(state, "startStep", `the next step is ${expected}, not ${command.step}`)
      }
      const taskId = command.step === "SELECT" ? null : (state.currentTask?.id ?? null)
      if (command.step !== "SELECT" && taskId === null) {
        return illegal(state, "startStep", `${command.step} needs a selected task`)
      }
      const attempt = state.cursor !== null && state.cursor.step === command.step && state.cursor.phase !== "done"
        ? state.cursor.attempt + 1
        : 1
      return accept(new StepStarted({ v: 1, at: command.at, step: command.step, taskId, attempt }, true))
    }
    case "CompleteStep": {
      const step = stepOfOutcome(command.outcome)
      if (!isRunning(state.status) || state.cursor?.phase !== "running" || state.cursor.step !== step) {
        return illegal(state, "completeStep", `${step} is not running`)
      }
      if (command.outcome._tag !== "TaskSelected" && command.outcome.taskId !== state.currentTask?.id) {
        return illegal(
          state,
          "completeStep",
          `${step} result is for task ${command.outcome.taskId}, not the current one`
        )
      }
      const stopHere = command.outcome._tag === "TaskListUpdated" && state.config?.stopPoint === command.outcome.taskId
      return stopHere
        ? accept(command.outcome, new ExecutionCompleted({ v: 1, at: command.outcome.at, reason: "stop-point" }, true))
        : accept(command.outcome)
    }
    case "Finish": {
      if (!isRunning(state.status) || state.cursor?.phase !== "running" || state.cursor.step !== "SELECT") {
        return illegal(state, "finish", "an execution finishes only from SELECT")
      }
      return accept(
        new ExecutionCompleted({
          v: 1,
          at: command.at,
          reason: "finished",
          ...(command.totalTasks === undefined ? {} : { totalTasks: command.totalTasks }),
          ...(command.completedTasks === undefined ? {} : { completedTasks: command.completedTasks })
        }, true)
      )
    }
    case "FailStep": {
      if (
        !isRunning(state.status) || state.cursor?.phase !== "running" || state.cursor.step !== command.error.step
      ) {
        return illegal(state, "failStep", `${command.error.step} is not running`)
      }
      // StepFailed carries the error (an `execution-error` frame); ExecutionFailed is the terminal
      // `execution-completed` frame every execution ends with.
      return accept(
        new StepFailed({ v: 1, at: command.at, error: command.error }, true),
        new ExecutionFailed({ v: 1, at: command.at, errorId: command.error.errorId }, true)
      )
    }
    case "PauseAtBoundary": {
      // Sent by the execution loop between steps. A cursor still "running" here is a step an earlier
      // activation was interrupted in (crash, failover, database outage): it re-runs on resume.
      if (!isRunning(state.status) || !state.pauseRequested) {
        return illegal(state, "pauseAtBoundary", "no pause is pending at a step boundary")
      }
      return accept(new ExecutionPaused({ v: 1, at: command.at }, true))
    }
    case "AppendLogs": {
      if (state.executionId === null) return illegal(state, "appendLogs", "no execution to log for")
      return Arr.isNonEmptyReadonlyArray(command.lines)
        ? accept(
          new LogBatch({ v: 1, at: command.at, taskId: command.taskId, step: command.step, lines: command.lines }, true)
        )
        : accept()
    }
    case "RecordSingleStep": {
      if (isActive(state.status)) {
        return illegal(state, "singleStep", `automation is ${state.status}; single steps run only when it is not`)
      }
      return accept(command.record)
    }
    case "Configure": {
      if (isActive(state.status)) {
        return illegal(
          state,
          "configure",
          `an execution is ${state.status} for this project: settings change only when none is active`
        )
      }
      // idempotent: the same settings again record nothing
      if (state.config !== null && sameSettings(state.config, command.config)) return accept()
      return accept(new ProjectConfigured({ v: 1, at: command.at, config: command.config, by: command.by }, true))
    }
    case "DeleteProject": {
      if (isActive(state.status)) {
        return illegal(state, "delete", `an execution is ${state.status} for this project; stop it first`)
      }
      return accept(new ProjectDeleted({ v: 1, at: command.at, by: command.by }, true))
    }
  }
}

const encodeConfig = Schema.encodeSync(ExecutionConfig)

/** Settings compare by value (their JSON encoding). */
const sameSettings = (a: ExecutionConfig, b: ExecutionConfig): boolean =>
  JSON.stringify(encodeConfig(a)) === JSON.stringify(encodeConfig(b))

const withLog = (state: ProjectState, at: Timestamp, line: string): Pick<ProjectState, "logs" | "lastUpdate"> => ({
  logs: [...state.logs, `${at} ${line}`].slice(-LOG_TAIL),
  lastUpdate: at
})

// Validation is skipped: every field comes from a decoded event or an already valid state. The
// progress floor follows every change (ExecutionInitialized resets it), so progress never goes back.
const update = (state: ProjectState, patch: Partial<ProjectState>): ProjectState => {
  const next = { ...state, ...patch }
  return new ProjectState({ ...next, progressFloor: Math.max(next.progressFloor, currentProgress(next)) }, true)
}

const finishCursor = (state: ProjectState, phase: "done" | "failed"): StepCursor | null =>
  state.cursor === null ? null : new StepCursor({ ...state.cursor, phase }, true)

/**
 * The task edits still to be written into the file after UPDATE_TASKLIST: a field the file now reads as
 * the edit says is dropped (the file carries it; a later PUT of another value stays), and the completed
 * task's own status edit is superseded by its completion.
 */
const patchesAfterWrite = (
  patches: ProjectState["patches"],
  event: TaskListUpdated
): ProjectState["patches"] => {
  const written = new Map<TaskId, TaskPatch>(event.editsInFile ?? [])
  if (written.size === 0 && !patches.some(([id, patch]) => id === event.taskId && patch.status !== undefined)) {
    return patches
  }
  return patches.flatMap(([id, patch]) => {
    const inFile = written.get(id)
    const keep = <A>(value: A | undefined, writtenValue: A | undefined): A | undefined =>
      value !== undefined && value === writtenValue ? undefined : value
    const title = keep(patch.title, inFile?.title)
    const description = keep(patch.description, inFile?.description)
    const status = id === event.taskId ? undefined : keep(patch.status, inFile?.status)
    if (title === undefined && description === undefined && status === undefined) return []
    if (title === patch.title && description === patch.description && status === patch.status) {
      return [[id, patch] as const]
    }
    return [
      [
        id,
        new TaskPatch({
          ...(title === undefined ? {} : { title }),
          ...(description === undefined ? {} : { description }),
          ...(status === undefined ? {} : { status })
        }, true)
      ] as const
    ]
  })
}

export const evolve = (state: ProjectState, event: JournalEvent): ProjectState => {
  switch (event._tag) {
    case "ExecutionInitialized":
      return update(state, {
        executionId: event.executionId,
        eventId: event.eventId,
        config: event.config,
        customerId: event.config.customerId,
        status: "QUEUED",
        currentTask: null,
        branch: null,
        completedInExecution: [],
        cursor: null,
        stepsDone: [],
        pauseRequested: false,
        error: null,
        failedVerification: null,
        progressFloor: 0,
        startTime: event.at,
        endTime: null,
        ...withLog({ ...state, logs: [] }, event.at, "Execution initialized")
      })
    case "StepStarted":
      return update(state, {
        status: statusOfStep[event.step],
        cursor: new StepCursor(
          { step: event.step, phase: "running", attempt: event.attempt, startedAt: event.at },
          true
        ),
        ...(event.step === "SELECT"
          ? { currentTask: null, branch: null, stepsDone: [], failedVerification: null }
          : {}),
        ...withLog(
          state,
          event.at,
          `${event.step} started${event.taskId === null ? "" : ` for ${event.taskId}`}${
            event.attempt > 1 ? ` (attempt ${event.attempt})` : ""
          }`
        )
      })
    case "TaskSelected":
      return update(state, {
        currentTask: event.task,
        totalTasks: event.totalTasks,
        completedTasks: event.completedTasks,
        cursor: finishCursor(state, "done"),
        stepsDone: ["SELECT"],
        failedVerification: null,
        ...withLog(state, event.at, `Selected ${event.task.id}: ${event.task.title}`)
      })
    case "PrepCompleted":
      return update(state, {
        branch: event.branch,
        repoPath: event.repoPath,
        cursor: finishCursor(state, "done"),
        stepsDone: [...state.stepsDone, "PREP"],
        ...withLog(state, event.at, `Branch ${event.branch} ready${event.cloned ? " (cloned)" : ""}`)
      })
    case "ImplementCompleted":
      return update(state, {
        cursor: finishCursor(state, "done"),
        stepsDone: [...state.stepsDone, "IMPLEMENT"],
        ...withLog(
          state,
          event.at,
          `Implementation done: ${event.artifact.outputs.filesModified.length} files, ${event.artifact.outputs.linesChanged} lines`
        )
      })
    case "VerifyCompleted":
      // A failed verdict (the fix loop) sends the task back to IMPLEMENT with the failure.
      return event.result.success
        ? update(state, {
          cursor: finishCursor(state, "done"),
          stepsDone: [...state.stepsDone, "VERIFY"],
          failedVerification: null,
          ...withLog(state, event.at, `Verification passed for ${event.taskId}`)
        })
        : update(state, {
          cursor: finishCursor(state, "done"),
          stepsDone: state.stepsDone.filter((s) => s !== "IMPLEMENT"),
          failedVerification: event.result,
          ...withLog(
            state,
            event.at,
            `Verification failed for ${event.taskId} (attempt ${
              event.result.attempts.at(-1)?.attempt ?? 1
            }): IMPLEMENT runs again with the failure`
          )
        })
    case "MergeCompleted":
      return update(state, {
        cursor: finishCursor(state, "done"),
        stepsDone: [...state.stepsDone, "MERGE"],
        ...withLog(state, event.at, `Merged ${event.taskId}${event.alreadyMerged ? " (already merged)" : ""}`)
      })
    case "PushCompleted":
      return update(state, {
        cursor: finishCursor(state, "done"),
        stepsDone: [...state.stepsDone, "PUSH"],
        ...withLog(state, event.at, `Pushed ${event.commit.slice(0, 12)}`)
      })
    case "TaskListUpdated":
      return update(state, {
        // The journal keeps an injected task completed too (the file may lag or be unwritable).
        injections: state.injections.some((i) => i.task.id === event.taskId)
          ? state.injections.map((i) =>
            i.task.id === event.taskId
              ? new InjectedTask({ ...i, task: new Task({ ...i.task, status: "completed" }, true) }, true)
              : i
          )
          : state.injections,
        cursor: finishCursor(state, "done"),
        stepsDone: [],
        currentTask: null,
        completedTasks: event.completedTasks,
        totalTasks: event.totalTasks,
        completedInExecution: [...state.completedInExecution, event.taskId],
        patches: patchesAfterWrite(state.patches, event),
        ...withLog(state, event.at, `Task ${event.taskId} completed`)
      })
    case "StepFailed":
      return update(state, {
        status: "FAILED",
        cursor: finishCursor(state, "failed"),
        pauseRequested: false,
        error: event.error,
        ...withLog(state, event.at, `${event.error.step} failed: ${event.error.message}`)
      })
    case "ExecutionFailed":
      return state
    case "PauseRequested":
      return update(state, { pauseRequested: true, ...withLog(state, event.at, "Pause requested") })
    case "ExecutionPaused":
      return update(state, {
        status: "PAUSED",
        pauseRequested: false,
        // an interrupted step (see PauseAtBoundary) is not running any more; resume re-runs it
        cursor: state.cursor?.phase === "running" ? finishCursor(state, "failed") : state.cursor,
        ...withLog(state, event.at, "Paused")
      })
    case "ExecutionResumed":
      return update(state, {
        status: event.from === "PAUSED" || event.from === "FAILED" ? "QUEUED" : state.status,
        pauseRequested: false,
        error: event.from === "FAILED" ? null : state.error,
        ...withLog(state, event.at, `Resumed from ${event.from}`)
      })
    case "ExecutionStopped":
      return update(state, {
        status: "STOPPED",
        pauseRequested: false,
        cursor: state.cursor?.phase === "running" ? finishCursor(state, "failed") : state.cursor,
        endTime: event.at,
        ...withLog(state, event.at, `Stopped: ${event.reason}`)
      })
    case "ExecutionCompleted":
      return update(state, {
        status: "COMPLETED",
        pauseRequested: false,
        cursor: finishCursor(state, "done"),
        currentTask: null,
        endTime: event.at,
        // a list that was already complete: no TaskSelected ever set the figures
        ...(event.totalTasks === undefined ? {} : { totalTasks: event.totalTasks }),
        ...(event.completedTasks === undefined ? {} : { completedTasks: event.completedTasks }),
        ...withLog(
          state,
          event.at,
          event.reason === "stop-point" ? "Completed at the stop point" : "All tasks completed"
        )
      })
    case "TaskInjected":
      return update(state, {
        injections: [...state.injections, event.injection],
        ...withLog(state, event.at, `Injected ${event.injection.task.id} (${event.injection.mode})`)
      })
    case "TaskUpdated": {
      const previous = state.patches.find(([id]) => id === event.taskId)?.[1]
      const merged = { ...previous, ...event.patch }
      return update(state, {
        patches: [
          ...state.patches.filter(([id]) => id !== event.taskId),
          [event.taskId, new TaskPatch(merged, true)]
        ],
        ...withLog(state, event.at, `Task ${event.taskId} updated`)
      })
    }
    case "LogBatch":
      return state
    case "SingleStepCompleted":
      return update(
        state,
        withLog(state, event.at, `${event.step} for ${event.taskId} ${event.success ? "succeeded" : "failed"}`)
      )
    case "ProjectConfigured":
      return update(state, {
        config: event.config,
        customerId: event.config.customerId,
        ...withLog(state, event.at, `Settings changed by ${event.by}`)
      })
    case "ProjectDeleted":
      return initial(state.projectId)
  }
}

export const fold = (state: ProjectState, events: Iterable<JournalEvent>): ProjectState => {
  let current = state
  for (const event of events) current = evolve(current, event)
  return current
}

/** One decided event and the project state right after it. */
export interface Evolved {
  readonly event: JournalEvent
  readonly after: ProjectState
}

/** `events` folded one by one from `state`, each with the state right after it. */
export const evolveEach = (
  state: ProjectState,
  events: Arr.NonEmptyReadonlyArray<JournalEvent>
): Arr.NonEmptyReadonlyArray<Evolved> => {
  let current = state
  return Arr.map(events, (event) => {
    current = evolve(current, event)
    return { event, after: current }
  })
}
