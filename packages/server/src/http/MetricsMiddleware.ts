/**
 * Times every request and records it by route template (`/api/devteam/automation/pause/:projectId`,
 * not the concrete path, so label cardinality stays bounded), method and status.
 */
import { DevTeamApi } from "@devteam/domain/Api"
import { HttpApi, HttpLayerRouter, HttpServerRequest } from "@effect/platform"
import { Effect, Exit } from "effect"
import * as Metrics from "../Metrics.js"

interface Template {
  readonly method: string
  readonly path: string
  readonly pattern: RegExp
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

const templates: ReadonlyArray<Template> = (() => {
  const out: Array<Template> = []
  HttpApi.reflect(DevTeamApi, {
    onGroup: () => {},
    onEndpoint: ({ endpoint }) => {
      const source = endpoint.path.split("/").map((segment) => segment.startsWith(":") ? "[^/]+" : escape(segment))
        .join("/")
      out.push({ method: endpoint.method, path: endpoint.path, pattern: new RegExp(`^${source}$`) })
    }
  })
  out.push({ method: "GET", path: "/ws/devteam", pattern: /^\/ws\/devteam$/ })
  out.push({ method: "GET", path: "/openapi.json", pattern: /^\/openapi\.json$/ })
  out.push({ method: "GET", path: "/docs", pattern: /^\/docs$/ })
  return out
})()

/** The route template a request path matches, or `unmatched`. */
export const routeOf = (method: string, url: string): string => {
  const path = url.split("?")[0] ?? url
  const found = templates.find((t) => t.method === method && t.pattern.test(path))
  return found?.path ?? "unmatched"
}

export const layer = HttpLayerRouter.middleware((app) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const started = performance.now()
    return yield* Effect.onExit(app, (exit) =>
      Effect.sync(() => {
        const labels = {
          route: routeOf(request.method, request.url),
          method: request.method,
          status: Exit.isSuccess(exit) ? String(exit.value.status) : "error"
        }
        Metrics.httpRequestDuration.observe((performance.now() - started) / 1000, labels)
        Metrics.httpRequests.inc(labels)
      }))
  }), { global: true })
