/**
 * `GET /health`: bounded dependency checks (≤ 500 ms even when a dependency hangs).
 */
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"
import { described, documented } from "./ApiCommon.js"
import { Timestamp } from "./Ids.js"

export const DependencyStatus = Schema.Literal("available", "unavailable", "disabled", "writable")
export type DependencyStatus = typeof DependencyStatus.Type

const healthFields = {
  status: Schema.Literal("healthy", "degraded", "unhealthy"),
  timestamp: Timestamp,
  version: Schema.String,
  role: Schema.String,
  dependencies: Schema.Struct({
    git: DependencyStatus,
    aider: DependencyStatus,
    docker: DependencyStatus,
    postgres: DependencyStatus,
    redis: DependencyStatus,
    filesystem: DependencyStatus
  }),
  /** Which implementation backs each port (e.g. `sandbox: "local (no isolation)"`). */
  details: Schema.Record({ key: Schema.String, value: Schema.String })
}

export class HealthReport extends Schema.Class<HealthReport>("HealthReport")(healthFields) {}

/** The same body with `status: "unhealthy"`, sent with 503 when a required dependency is down. */
export class UnhealthyReport extends Schema.Class<UnhealthyReport>("UnhealthyReport")(
  healthFields,
  HttpApiSchema.annotations({ status: 503 })
) {}

export class HealthApi extends HttpApiGroup.make("health")
  .annotateContext(described("Liveness and dependency status of the service."))
  .add(
    HttpApiEndpoint.get("health", "/health")
      .annotateContext(
        documented(
          "Service health with each dependency's status",
          "Bounded checks of git, the coding agents, Docker, Postgres, Redis and the data directory (answers within 500 ms even when one hangs; the report is cached briefly). 200 healthy or degraded; 503 with the same body and status `unhealthy` when a required dependency is down. Needs no token."
        )
      )
      .addSuccess(HealthReport)
      .addError(UnhealthyReport)
  )
{}
