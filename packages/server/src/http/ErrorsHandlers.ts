/** `GET /api/devteam/errors/{executionId}/{errorId}` (projection; secrets already redacted), authorised on its project. */
import { DevTeamApi } from "@devteam/domain/Api"
import { ErrorNotFound } from "@devteam/domain/Errors"
import { Projections } from "@devteam/runtime/Projections"
import { HttpApiBuilder } from "@effect/platform"
import { Effect, Option } from "effect"
import * as Access from "./Access.js"

export const layer = HttpApiBuilder.group(
  DevTeamApi,
  "errors",
  (handlers) =>
    handlers.handle("get", ({ path }) =>
      Effect.gen(function*() {
        const projections = yield* Projections
        const error = yield* projections.error(path.executionId, path.errorId)
        if (Option.isNone(error)) {
          return yield* new ErrorNotFound({
            errorId: path.errorId,
            message: `no error ${path.errorId} in execution ${path.executionId}`
          })
        }
        yield* Access.requireProject(error.value.projectId)
        return error.value
      }))
)
