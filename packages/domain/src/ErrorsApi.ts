/**
 * Error details of a failed step (secrets redacted).
 */
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema } from "@effect/platform"
import { executionIdParam } from "./ApiCommon.js"
import { Authentication } from "./Auth.js"
import { BadRequest, ErrorNotFound } from "./Errors.js"
import { ExecutionError } from "./ExecutionError.js"
import { ErrorId } from "./Ids.js"

export class ErrorsApi extends HttpApiGroup.make("errors")
  .add(
    HttpApiEndpoint.get("get")`/${executionIdParam}/${HttpApiSchema.param("errorId", ErrorId)}`
      .addSuccess(ExecutionError)
      .addError(ErrorNotFound)
  )
  .addError(BadRequest)
  .middleware(Authentication)
  .prefix("/api/devteam/errors")
{}
