/**
 * `/api/devteam/executions/*`, from the projections and the journal (never an entity). A user lists
 * their own executions (an admin anyone's); one execution is authorised on its project.
 */
import { DevTeamApi } from "@devteam/domain/Api"
import { ExecutionNotFound } from "@devteam/domain/Errors"
import type { ExecutionConfig } from "@devteam/domain/ExecutionConfig"
import type { ExecutionError } from "@devteam/domain/ExecutionError"
import {
  ActiveExecution,
  ExecutionDetails,
  ExecutionErrorSummary,
  ExecutionHistoryEntry,
  ExecutionTaskRecord
} from "@devteam/domain/ExecutionsApi"
import type { ExecutionId, ProjectId } from "@devteam/domain/Ids"
import type { JournalEntry } from "@devteam/domain/JournalEvent"
import { Journal, type JournalService } from "@devteam/runtime/Journal"
import type { ExecutionSummary } from "@devteam/runtime/Projections"
import { HttpApiBuilder } from "@effect/platform"
import { Effect, Option } from "effect"
import * as Access from "./Access.js"

const PAGE = 1000

/** Every journal entry of one execution, oldest first. */
const entriesOf = (journal: JournalService, projectId: ProjectId, executionId: ExecutionId) =>
  Effect.gen(function*() {
    const out: Array<JournalEntry> = []
    let after = 0
    while (true) {
      const page = yield* journal.read(projectId, after, PAGE)
      for (const entry of page) if (entry.executionId === executionId) out.push(entry)
      const last = page[page.length - 1]
      if (last === undefined || page.length < PAGE) return out
      after = last.seq
    }
  })

interface TaskAcc {
  taskId: ExecutionTaskRecord["taskId"]
  title: string | null
  branch: string | null
  status: ExecutionTaskRecord["status"]
  artifacts: Array<ExecutionTaskRecord["artifacts"][number]>
  verification: ExecutionTaskRecord["verification"]
  mergeCommit: string | null
  pushedCommit: string | null
}

const details = (summary: ExecutionSummary, entries: ReadonlyArray<JournalEntry>) => {
  let config: ExecutionConfig | undefined
  const errors: Array<ExecutionError> = []
  const tasks = new Map<string, TaskAcc>()
  const task = (taskId: TaskAcc["taskId"]): TaskAcc => {
    const found = tasks.get(taskId)
    if (found !== undefined) return found
    const created: TaskAcc = {
      taskId,
      title: null,
      branch: null,
      status: "in_progress",
      artifacts: [],
      verification: null,
      mergeCommit: null,
      pushedCommit: null
    }
    tasks.set(taskId, created)
    return created
  }
  for (const { event } of entries) {
    switch (event._tag) {
      case "ExecutionInitialized":
        config = event.config
        break
      case "TaskSelected":
        task(event.task.id).title = event.task.title
        break
      case "PrepCompleted":
        task(event.taskId).branch = event.branch
        break
      case "ImplementCompleted":
        task(event.taskId).artifacts.push(event.artifact)
        break
      case "VerifyCompleted":
        task(event.taskId).verification = event.result
        break
      case "MergeCompleted":
        task(event.taskId).mergeCommit = event.mergeCommit
        break
      case "PushCompleted":
        task(event.taskId).pushedCommit = event.commit
        break
      case "TaskListUpdated":
        task(event.taskId).status = "completed"
        break
      case "StepFailed":
        errors.push(event.error)
        if (event.error.taskId !== null) task(event.error.taskId).status = "failed"
        break
      default:
        break
    }
  }
  if (config === undefined) return Option.none()
  return Option.some(
    new ExecutionDetails({
      executionId: summary.executionId,
      projectId: summary.projectId,
      customerId: summary.customerId,
      userId: summary.userId,
      status: summary.status,
      config,
      startTime: summary.startTime ?? summary.updatedAt,
      endTime: summary.endTime,
      completedTasks: summary.completedTasks,
      totalTasks: summary.totalTasks,
      progress: summary.progress,
      tasks: [...tasks.values()].map((t) => new ExecutionTaskRecord(t)),
      errors
    })
  )
}

export const layer = HttpApiBuilder.group(DevTeamApi, "executions", (handlers) =>
  handlers
    .handle("active", ({ path }) =>
      Effect.gen(function*() {
        yield* Access.requireUser(path.userId)
        const journal = yield* Journal
        const rows = yield* journal.executionsActive(path.userId)
        return rows.map((row) =>
          new ActiveExecution({
            executionId: row.executionId,
            projectId: row.projectId,
            status: row.status,
            currentTask: row.currentTask,
            progress: row.progress,
            startTime: row.startTime ?? row.updatedAt
          })
        )
      }))
    .handle("history", ({ path, urlParams }) =>
      Effect.gen(function*() {
        yield* Access.requireUser(path.userId)
        const journal = yield* Journal
        const rows = yield* journal.executionsHistory(path.userId, urlParams.limit ?? 20)
        return rows.map((row) =>
          new ExecutionHistoryEntry({
            executionId: row.executionId,
            projectId: row.projectId,
            status: row.status,
            startTime: row.startTime ?? row.updatedAt,
            endTime: row.endTime,
            completedTasks: row.completedTasks,
            ...(row.error === null ? {} : {
              error: new ExecutionErrorSummary({
                errorId: row.error.errorId,
                message: row.error.message,
                step: row.error.step
              })
            })
          })
        )
      }))
    .handle("get", ({ path }) =>
      Effect.gen(function*() {
        const journal = yield* Journal
        const notFound = new ExecutionNotFound({
          executionId: path.executionId,
          message: `no execution ${path.executionId}`
        })
        const detail = yield* journal.execution(path.executionId)
        if (Option.isNone(detail)) return yield* notFound
        const summary = detail.value.execution
        yield* Access.requireProject(summary.projectId)
        const entries = yield* entriesOf(journal, summary.projectId, path.executionId)
        return yield* Option.match(details(summary, entries), {
          onNone: () => Effect.fail(notFound),
          onSome: Effect.succeed
        })
      })))
