/**
 * Every request gets a correlation id: echoed from `x-correlation-id` when valid, generated
 * otherwise; it is in the response header, every log line and every command sent to an entity.
 */
import * as Correlation from "@devteam/runtime/Correlation"
import { HttpLayerRouter, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Effect } from "effect"

export const HEADER = "x-correlation-id"

export const layer = HttpLayerRouter.middleware((app) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const id = Correlation.fromHeader(request.headers[HEADER])
    const response = yield* app.pipe(Correlation.withCorrelationId(id))
    return HttpServerResponse.setHeader(response, HEADER, id)
  }), { global: true })
