/**
 * Error details of a failed step (secrets redacted).
 */
import { HttpApiEndpoint, HttpApiGroup } from "@effect/platform"
import { errorIdParam, executionIdParam } from "./ApiCommon.js"
import { Authentication } from "./Auth.js"
import { BadRequest, ErrorNotFound } from "./Errors.js"
import { ExecutionError } from "./ExecutionError.js"

export class ErrorsApi extends HttpApiGroup.make("errors")
  .add(
    HttpApiEndpoint.get("get")`/${executionIdParam}/${errorIdParam}`
      .addSuccess(ExecutionError)
      .addError(ErrorNotFound)
  )
  .addError(BadRequest)
  .middleware(Authentication)
  .prefix("/api/devteam/errors")
{}
