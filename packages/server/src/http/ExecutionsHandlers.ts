/**
 * `/api/devteam/executions/*`, from the projections (never an entity, never the journal). A user
 * lists their own executions (an admin anyone's); one execution is authorised on its project.
 */
import { DevTeamApi } from "@devteam/domain/Api"
import { ExecutionNotFound } from "@devteam/domain/Errors"
import { ActiveExecution, ExecutionErrorSummary, ExecutionHistoryEntry } from "@devteam/domain/ExecutionsApi"
import { Projections } from "@devteam/runtime/Projections"
import { HttpApiBuilder } from "@effect/platform"
import { Effect, Option } from "effect"
import * as Access from "./Access.js"

export const layer = HttpApiBuilder.group(DevTeamApi, "executions", (handlers) =>
  handlers
    .handle("active", ({ path }) =>
      Effect.gen(function*() {
        yield* Access.requireUser(path.userId)
        const projections = yield* Projections
        const rows = yield* projections.executionsActive(path.userId)
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
        const projections = yield* Projections
        const rows = yield* projections.executionsHistory(path.userId, urlParams.limit ?? 20)
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
        const projections = yield* Projections
        const notFound = new ExecutionNotFound({
          executionId: path.executionId,
          message: `no execution ${path.executionId}`
        })
        const detail = yield* projections.execution(path.executionId)
        if (Option.isNone(detail)) return yield* notFound
        yield* Access.requireProject(detail.value.projectId)
        return detail.value
      })))
