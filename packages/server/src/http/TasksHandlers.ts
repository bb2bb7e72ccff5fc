/** `POST /api/devteam/tasks/inject`: a task added at run time, placed by the entity. */
import { DevTeamApi } from "@devteam/domain/Api"
import { InjectTaskResponse } from "@devteam/domain/TasksApi"
import { Project } from "@devteam/runner/ProjectEntity"
import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import * as Access from "./Access.js"
import { deliver } from "./Delivery.js"
import { respond } from "./ErrorMiddleware.js"
import { idempotent } from "./Idempotency.js"

export const layer = HttpApiBuilder.group(DevTeamApi, "tasks", (handlers) =>
  Effect.gen(function*() {
    const client = yield* Project.client
    return handlers.handle("inject", ({ headers, payload }) =>
      Effect.gen(function*() {
        yield* Access.accessKnownProject(payload.projectId)
        return yield* deliver((meta) => client(payload.projectId).InjectTask({ ...meta, request: payload })).pipe(
          Effect.catchTags({
            InvalidRepoUrl: (error) => Effect.succeed(respond(error)),
            RepositoryAccessDenied: (error) => Effect.succeed(respond(error))
          })
        )
      }).pipe(
        idempotent({
          route: "POST /api/devteam/tasks/inject",
          authorize: Effect.as(Access.requireProject(payload.projectId), payload.projectId),
          key: headers["idempotency-key"],
          request: payload,
          success: InjectTaskResponse,
          status: 200
        })
      ))
  }))
