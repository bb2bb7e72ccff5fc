/**
 * The whole HTTP contract of api.md, declared once: the server implements it, `/openapi.json` is
 * generated from it, and the SDK's client is derived from it.
 */
import { HttpApi, OpenApi } from "@effect/platform"
import { AdminApi } from "./AdminApi.js"
import { AutomationApi } from "./AutomationApi.js"
import { InternalError, ServiceUnavailable } from "./Errors.js"
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
      operationId: "websocket.connect",
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
    get: {
      tags: ["docs"],
      operationId: "docs.openapi",
      summary: "This OpenAPI 3.1 document",
      description: "Generated from the same HttpApi the service implements and the SDK's client is derived from.",
      responses: { "200": { description: "OpenAPI" } }
    }
  },
  "/docs": {
    get: {
      tags: ["docs"],
      operationId: "docs.explorer",
      summary: "API explorer",
      description: "An interactive page over /openapi.json.",
      responses: { "200": { description: "HTML page" } }
    }
  }
}

const extraTags = [
  { name: "websocket", description: "Live execution frames over a WebSocket, with replay from the journal." },
  { name: "docs", description: "This document and an explorer for it." }
]

/** Every `$ref` inside a JSON value. */
const refsIn = (value: unknown, out: Set<string> = new Set()): Set<string> => {
  if (Array.isArray(value)) {
    for (const item of value) refsIn(item, out)
  } else if (typeof value === "object" && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      if (key === "$ref" && typeof item === "string") out.add(item)
      else refsIn(item, out)
    }
  }
  return out
}

/**
 * The component schemas the paths use, directly or through other components. Schemas of query
 * parameters are inlined as parameters, so their classes would otherwise sit in the document unused.
 */
const usedSchemas = (
  paths: unknown,
  schemas: Readonly<Record<string, unknown>>
): Record<string, unknown> => {
  const prefix = "#/components/schemas/"
  const used = new Set<string>()
  const pending = [...refsIn(paths)]
  for (let ref = pending.pop(); ref !== undefined; ref = pending.pop()) {
    const name = ref.startsWith(prefix) ? ref.slice(prefix.length) : undefined
    if (name === undefined || used.has(name) || !(name in schemas)) continue
    used.add(name)
    pending.push(...refsIn(schemas[name]))
  }
  return Object.fromEntries(Object.entries(schemas).filter(([name]) => used.has(name)))
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
  .addError(ServiceUnavailable)
  .addError(InternalError)
  .annotateContext(OpenApi.annotations({
    title: "DevTeam Runner API",
    version: API_VERSION,
    description: "Runs a repository's task list through SELECT → PREP → IMPLEMENT → VERIFY → MERGE → PUSH → " +
      "UPDATE_TASKLIST, one project actor per repository.",
    license: { name: "MIT", url: "https://opensource.org/licenses/MIT" },
    // the document is served by the service it describes: paths are relative to where it was fetched
    servers: [{ url: "/", description: "The service serving this document" }],
    transform: (spec) => {
      const paths = { ...spec.paths, ...extraPaths }
      const components = Object.assign({}, spec.components)
      const schemas = Object.assign({}, components.schemas)
      return {
        ...spec,
        paths,
        tags: [...spec.tags, ...extraTags],
        components: { ...components, schemas: usedSchemas(paths, schemas) }
      }
    }
  }))
{}
