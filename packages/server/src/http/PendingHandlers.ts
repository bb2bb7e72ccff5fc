/**
 * Routes whose implementation has not landed yet answer 501 with a tagged `NotImplemented` error —
 * never a fake success. Each group moves out of this module into its own handlers module as the
 * issue that implements it lands.
 */
import { DevTeamApi } from "@devteam/domain/Api"
import { NotImplemented } from "@devteam/domain/Errors"
import { HttpApiBuilder } from "@effect/platform"
import { Effect, Layer } from "effect"

const pending = (route: string) => () =>
  Effect.fail(new NotImplemented({ message: `${route} is not implemented in this build yet` }))

export const events = HttpApiBuilder.group(
  DevTeamApi,
  "events",
  (h) => h.handle("ingest", pending("POST /events")).handle("get", pending("GET /events/{eventId}"))
)

export const runner = HttpApiBuilder.group(DevTeamApi, "runner", (h) =>
  h
    .handle("prep", pending("POST /prep"))
    .handle("implement", pending("POST /implement"))
    .handle("verify", pending("POST /verify"))
    .handle("nextTask", pending("GET /tasks/next")))

export const automation = HttpApiBuilder.group(DevTeamApi, "automation", (h) =>
  h
    .handle("initialize", pending("POST /api/devteam/automation/initialize"))
    .handle("status", pending("GET /api/devteam/automation/status/{projectId}"))
    .handle("pause", pending("POST /api/devteam/automation/pause/{projectId}"))
    .handle("resume", pending("POST /api/devteam/automation/resume/{projectId}"))
    .handle("stop", pending("POST /api/devteam/automation/stop/{projectId}")))

export const repository = HttpApiBuilder.group(DevTeamApi, "repository", (h) =>
  h
    .handle("validate", pending("POST /api/devteam/repository/validate"))
    .handle("tasks", pending("GET /api/devteam/repository/tasks/{projectId}"))
    .handle("plan", pending("GET /api/devteam/repository/plan/{projectId}"))
    .handle("updateTask", pending("PUT /api/devteam/repository/tasks/{projectId}/{taskId}")))

export const tasks = HttpApiBuilder.group(
  DevTeamApi,
  "tasks",
  (h) => h.handle("inject", pending("POST /api/devteam/tasks/inject"))
)

export const executions = HttpApiBuilder.group(DevTeamApi, "executions", (h) =>
  h
    .handle("active", pending("GET /api/devteam/executions/active/{userId}"))
    .handle("history", pending("GET /api/devteam/executions/history/{userId}"))
    .handle("get", pending("GET /api/devteam/executions/{executionId}")))

export const errors = HttpApiBuilder.group(
  DevTeamApi,
  "errors",
  (h) => h.handle("get", pending("GET /api/devteam/errors/{executionId}/{errorId}"))
)

export const admin = HttpApiBuilder.group(DevTeamApi, "admin", (h) =>
  h
    .handle("projects", pending("GET /admin/projects"))
    .handle("journal", pending("GET /admin/projects/{projectId}/journal"))
    .handle("cluster", pending("GET /admin/cluster"))
    .handle("metrics", pending("GET /metrics")))

export const layer = Layer.mergeAll(events, runner, automation, repository, tasks, executions, errors, admin)
