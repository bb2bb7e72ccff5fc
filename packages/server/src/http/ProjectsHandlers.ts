/**
 * `/api/devteam/projects`: register / change settings (a command to the project's entity, which
 * journals it), read one or the caller's list (the projections — never wakes an entity), delete.
 */
import { DevTeamApi } from "@devteam/domain/Api"
import * as Auth from "@devteam/domain/Auth"
import { ProjectNotFound } from "@devteam/domain/Errors"
import { DEFAULT_TASK_LIST_PATH, DEFAULT_TOOL, ExecutionConfig } from "@devteam/domain/ExecutionConfig"
import { customerIdOf, type ProjectId } from "@devteam/domain/Ids"
import { ProjectDeletedResponse, ProjectList, ProjectTaskList, ProjectView } from "@devteam/domain/ProjectsApi"
import { taskListTemplate, taskListTemplateCommitMessage } from "@devteam/domain/TaskListTemplate"
import { Project } from "@devteam/runner/ProjectEntity"
import * as EgressPolicy from "@devteam/runtime/EgressPolicy"
import { Projections } from "@devteam/runtime/Projections"
import { RepositoryInit } from "@devteam/runtime/RepositoryInit"
import { RepositoryProbe } from "@devteam/runtime/RepositoryProbe"
import * as SandboxPolicy from "@devteam/runtime/SandboxPolicy"
import { HttpApiBuilder } from "@effect/platform"
import { Effect, Option } from "effect"
import * as Access from "./Access.js"
import * as BaseBranch from "./BaseBranch.js"
import * as CustomerLimits from "./CustomerLimits.js"
import { deliver } from "./Delivery.js"
import { idempotent } from "./Idempotency.js"
import * as Projects from "./Projects.js"
import * as TaskListCheck from "./TaskListCheck.js"

const DEFAULT_PAGE = 50

export const layer = HttpApiBuilder.group(DevTeamApi, "projects", (handlers) =>
  Effect.gen(function*() {
    const client = yield* Project.client
    const probe = yield* RepositoryProbe
    const init = yield* RepositoryInit
    const projections = yield* Projections
    const caps = yield* Projects.ResourceCaps
    const limits = yield* CustomerLimits.CustomerLimitsConfig
    const egressPolicy = yield* EgressPolicy.EgressPolicyConfig
    const commandsNeedAdmin = SandboxPolicy.callerCommandsNeedAdmin(yield* SandboxPolicy.SandboxPolicyConfig)

    const view = (projectId: ProjectId) =>
      Effect.flatMap(
        projections.project(projectId),
        Option.match({
          onNone: () =>
            Effect.fail(
              new ProjectNotFound({
                projectId,
                message: `unknown project ${projectId} (register it with PUT /api/devteam/projects/{projectId})`
              })
            ),
          onSome: (row) => Effect.succeed(Projects.projectView(row))
        })
      )

    /** The task list at the settings' path, read from the repository now and parsed. */
    const taskListOf = (
      settings: { readonly repoUrl: string; readonly baseBranch: string; readonly taskListPath: string },
      created: boolean
    ) =>
      Effect.map(
        probe.validate({
          repoUrl: settings.repoUrl,
          baseBranch: settings.baseBranch,
          taskListPath: settings.taskListPath
        }),
        (result) =>
          new ProjectTaskList({
            ...TaskListCheck.figures(result),
            created,
            ...(result.message === undefined ? {} : { message: result.message })
          })
      )

    return handlers
      .handle("put", ({ headers, path, payload }) =>
        Effect.gen(function*() {
          yield* Access.requireProject(path.projectId)
          // settings are what a later initialize runs: the same rule as for its commands
          yield* Access.requireCommandsAllowed(commandsNeedAdmin, payload)
          yield* probe.checkRepoUrl(payload.repoUrl)
          yield* Projects.checkResources(payload.resources, caps)
          yield* Projects.checkEgress(payload.egress, egressPolicy)
          const baseBranch = yield* BaseBranch.resolve(probe, payload.repoUrl.trim(), payload.baseBranch)
          const config = new ExecutionConfig({
            repoUrl: payload.repoUrl.trim(),
            baseBranch,
            taskListPath: payload.taskListPath ?? DEFAULT_TASK_LIST_PATH,
            tool: payload.tool ?? DEFAULT_TOOL,
            ...(payload.model === undefined ? {} : { model: payload.model }),
            ...(payload.script === undefined ? {} : { script: payload.script }),
            ...(payload.verify === undefined ? {} : { verify: payload.verify }),
            ...(payload.onNoChange === undefined ? {} : { onNoChange: payload.onNoChange }),
            ...(payload.resources === undefined ? {} : { resources: payload.resources }),
            ...(payload.egress === undefined ? {} : { egress: payload.egress }),
            customerId: payload.customerId ?? customerIdOf(path.projectId)
          })
          yield* CustomerLimits.requireProjectRoom(
            limits,
            config.customerId,
            path.projectId,
            yield* Projects.record(path.projectId)
          )
          // before the settings are journaled: a repository that refuses the commit changes nothing here
          const created = payload.createTaskList === true
            ? yield* init.createFile({
              repoUrl: config.repoUrl,
              baseBranch: config.baseBranch,
              path: config.taskListPath,
              text: taskListTemplate,
              message: taskListTemplateCommitMessage(config.taskListPath)
            })
            : undefined
          yield* deliver((meta) =>
            client(path.projectId).Configure({
              ...meta,
              config
            })
          )
          const registered = yield* view(path.projectId)
          if (created === undefined) return registered
          return new ProjectView({ ...registered, taskList: yield* taskListOf(config, created.created) })
        }).pipe(
          idempotent({
            route: "PUT /api/devteam/projects/{projectId}",
            authorize: Access.requireProject(path.projectId).pipe(
              Effect.zipRight(Access.requireCommandsAllowed(commandsNeedAdmin, payload)),
              Effect.as(path.projectId)
            ),
            key: headers["idempotency-key"],
            request: { projectId: path.projectId, settings: payload },
            success: ProjectView,
            status: 200
          })
        ))
      .handle("get", ({ path, urlParams }) =>
        Effect.gen(function*() {
          yield* Access.requireProject(path.projectId)
          const found = yield* view(path.projectId)
          if (urlParams.taskList !== true) return found
          const settings = found.settings
          if (settings === null) return found
          return new ProjectView({ ...found, taskList: yield* taskListOf(settings, false) })
        }))
      .handle("list", ({ urlParams }) =>
        Effect.gen(function*() {
          const caller = yield* Auth.CurrentPrincipal
          const rows = yield* projections.projectRecords(urlParams.customerId)
          const visible = rows.filter((row) => Auth.canAccessProject(caller, row.view.projectId))
          const limit = urlParams.limit ?? DEFAULT_PAGE
          const offset = urlParams.offset ?? 0
          return new ProjectList({
            projects: visible.slice(offset, offset + limit).map(Projects.projectView),
            total: visible.length,
            limit,
            offset
          })
        }))
      .handle("delete", ({ headers, path }) =>
        Effect.gen(function*() {
          yield* Access.accessKnownProject(path.projectId)
          yield* deliver((meta) => client(path.projectId).DeleteProject(meta))
          return new ProjectDeletedResponse({ projectId: path.projectId, deleted: true })
        }).pipe(
          idempotent({
            route: "DELETE /api/devteam/projects/{projectId}",
            authorize: Effect.as(Access.requireProject(path.projectId), path.projectId),
            key: headers["idempotency-key"],
            request: { projectId: path.projectId },
            success: ProjectDeletedResponse,
            status: 200
          })
        ))
  }))
