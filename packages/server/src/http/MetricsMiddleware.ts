/**
 * Times every request and records it by route template (`/api/devteam/automation/pause/:projectId`,
 * not the concrete path, so label cardinality stays bounded), method and status.
 */
import { HttpLayerRouter, HttpServerRequest } from "@effect/platform"
import { Effect, Exit } from "effect"
import * as Metrics from "../Metrics.js"
import { routeOf } from "./RouteTable.js"

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
        Metrics.httpRequestDuration.observe(labels, (performance.now() - started) / 1000)
        Metrics.httpRequests.inc(labels)
      }))
  }), { global: true })
