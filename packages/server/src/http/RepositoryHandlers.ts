/**
 * `/api/devteam/repository/*`: validate (runtime `RepositoryProbe.validate` + the domain's parser;
 * never writes to the repository), the task list and the plan (through the project's entity,
 * which owns the project's configuration and injections), and task edits.
 */
import { DevTeamApi } from "@devteam/domain/Api"
import { ValidateResponse } from "@devteam/domain/RepositoryApi"
import { Task } from "@devteam/domain/Task"
import { Project } from "@devteam/runner/ProjectEntity"
import { RepositoryProbe } from "@devteam/runtime/RepositoryProbe"
import * as RepoUrl from "@devteam/runtime/RepoUrl"
import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import * as Access from "./Access.js"
import { deliver } from "./Delivery.js"
import { respond } from "./ErrorMiddleware.js"
import { idempotent } from "./Idempotency.js"
import * as TaskListCheck from "./TaskListCheck.js"

export const layer = HttpApiBuilder.group(DevTeamApi, "repository", (handlers) =>
  Effect.gen(function*() {
    const client = yield* Project.client
    const probe = yield* RepositoryProbe
    const allowFile = probe.allowFile

    return handlers
      .handle("validate", ({ payload }) =>
        Effect.gen(function*() {
          yield* RepoUrl.validate(payload.repoUrl, { allowFile })
          const result = yield* probe.validate({
            repoUrl: payload.repoUrl.trim(),
            baseBranch: payload.baseBranch,
            taskListPath: payload.taskListPath
          })
          return new ValidateResponse({
            valid: result.reachable && result.baseBranchExists && result.taskList.found,
            reachable: result.reachable,
            ...(result.message === undefined ? {} : { message: result.message }),
            defaultBranch: result.defaultBranch,
            taskList: TaskListCheck.figures(result)
          })
        }))
      .handle("tasks", ({ path, urlParams }) =>
        Effect.gen(function*() {
          yield* Access.accessKnownProject(path.projectId)
          return yield* deliver((meta) =>
            client(path.projectId).GetTasks({
              ...meta,
              refresh: urlParams.refresh,
              limit: urlParams.limit,
              offset: urlParams.offset
            })
          )
            .pipe(
              Effect.catchTags({
                InvalidRepoUrl: (error) => Effect.succeed(respond(error)),
                RepositoryAccessDenied: (error) => Effect.succeed(respond(error)),
                IllegalTransition: (error) => Effect.succeed(respond(error))
              })
            )
        }))
      .handle("plan", ({ path, urlParams }) =>
        Effect.gen(function*() {
          yield* Access.accessKnownProject(path.projectId)
          return yield* deliver((meta) => client(path.projectId).Plan({ ...meta, refresh: urlParams.refresh })).pipe(
            Effect.catchTags({
              InvalidRepoUrl: (error) => Effect.succeed(respond(error)),
              RepositoryAccessDenied: (error) => Effect.succeed(respond(error)),
              IllegalTransition: (error) => Effect.succeed(respond(error))
            })
          )
        }))
      .handle("updateTask", ({ headers, path, payload }) =>
        Effect.gen(function*() {
          yield* Access.accessKnownProject(path.projectId)
          return yield* deliver((meta) =>
            client(path.projectId).UpdateTask({ ...meta, taskId: path.taskId, patch: payload })
          ).pipe(
            Effect.catchTags({
              InvalidRepoUrl: (error) => Effect.succeed(respond(error)),
              RepositoryAccessDenied: (error) => Effect.succeed(respond(error)),
              BranchNotFound: (error) => Effect.succeed(respond(error))
            })
          )
        }).pipe(
          idempotent({
            route: "PUT /api/devteam/repository/tasks/{projectId}/{taskId}",
            authorize: Effect.as(Access.requireProject(path.projectId), path.projectId),
            key: headers["idempotency-key"],
            request: { projectId: path.projectId, taskId: path.taskId, patch: payload },
            success: Task,
            status: 200
          })
        ))
  }))
