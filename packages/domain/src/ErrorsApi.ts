/**
 * Error details of a failed step (secrets redacted).
 */
import { HttpApiEndpoint, HttpApiGroup } from "@effect/platform"
import { described, documented, errorIdParam, executionIdParam } from "./ApiCommon.js"
import { Authentication } from "./Auth.js"
import { BadRequest, ErrorNotFound } from "./Errors.js"
import { ExecutionError } from "./ExecutionError.js"

export class ErrorsApi extends HttpApiGroup.make("errors")
  .annotateContext(
    described("The error records of failed steps, with details and the last log lines (secrets redacted).")
  )
  .add(
    HttpApiEndpoint.get("get")`/${executionIdParam}/${errorIdParam}`
      .annotateContext(
        documented(
          "One error record of an execution",
          "The failed step with its category, message, details (the failing command and its exit code for VERIFY), the last log lines and the attempts made; secrets redacted."
        )
      )
      .addSuccess(ExecutionError)
      .addError(ErrorNotFound)
  )
  .addError(BadRequest)
  .middleware(Authentication)
  .prefix("/api/devteam/errors")
{}
