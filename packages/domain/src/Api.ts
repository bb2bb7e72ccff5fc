/**
 * The whole HTTP contract of api.md, declared once: the server implements it, `/openapi.json` is
 * generated from it, and the SDK's client is derived from it.
 */
import { HttpApi, OpenApi } from "@effect/platform"
import { AdminApi } from "./AdminApi.js"
import { AutomationApi } from "./AutomationApi.js"
import {
  IdempotencyKeyInProgress,
  IdempotencyKeyMismatch,
  InternalError,
  PayloadTooLarge,
  ServiceUnavailable
} from "./Errors.js"
import { ErrorsApi } from "./ErrorsApi.js"
import { EventsApi } from "./EventsApi.js"
import { ExecutionsApi } from "./ExecutionsApi.js"
import { HealthApi } from "./HealthApi.js"
import { ProjectsApi } from "./ProjectsApi.js"
import { RepositoryApi } from "./RepositoryApi.js"
import { RunnerApi } from "./RunnerApi.js"
import { TasksApi } from "./TasksApi.js"

export const API_VERSION = "0.1.0"

/** Routes served beside the HttpApi (not expressible in it); listed in the OpenAPI document too. */
const extraPaths = {
  "/ws/devteam": {
    get: {
      tags: ["websocket"],
      summary: "WebSocket: live execution frames with `since` replay",
      description:
        "Upgrade to a WebSocket. Query: projectId (optional), since (optional journal seq), token (JWT, or the Authorization header). " +
        "Server frames: execution-update, execution-log, execution-error, execution-completed, task-updated, subscribed, " +
        "replay-complete, error, pong. Client messages: subscribe, unsubscribe, ping. Close codes: 1008 unauthorised, " +
        "1009 message over 64 KiB, 1013 consumer too slow.",
      responses: { "101": { description: "Switching Protocols" }, "401": { description: "Unauthorized" } }
    }
  },
  "/openapi.json": {
    get: { tags: ["docs"], summary: "This OpenAPI 3.1 document", responses: { "200": { description: "OpenAPI" } } }
  },
  "/docs": {
    get: { tags: ["docs"], summary: "API explorer", responses: { "200": { description: "HTML page" } } }
  }
}

export class DevTeamApi extends HttpApi.make("devteam")
  .add(HealthApi)
  .add(EventsApi)
  .add(RunnerApi)
  .add(AutomationApi)
  .add(ProjectsApi)
  .add(RepositoryApi)
  .add(TasksApi)
  .add(ExecutionsApi)
  .add(ErrorsApi)
  .add(AdminApi)
  .addError(PayloadTooLarge)
  .addError(ServiceUnavailable)
  .addError(IdempotencyKeyMismatch)
  .addError(IdempotencyKeyInProgress)
  .addError(InternalError)
  .annotateContext(OpenApi.annotations({
    title: "DevTeam Runner API",
    version: API_VERSION,
    description: "Runs a repository's task list through SELECT → PREP → IMPLEMENT → VERIFY → MERGE → PUSH → " +
      "UPDATE_TASKLIST, one project actor per repository.",
    transform: (spec) => ({ ...spec, paths: { ...spec.paths, ...extraPaths } })
  }))
{}
