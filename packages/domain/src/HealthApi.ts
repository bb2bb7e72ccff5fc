/**
 * `GET /health`: bounded dependency checks (≤ 500 ms even when a dependency hangs).
 */
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"
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
  .add(
    HttpApiEndpoint.get("health", "/health")
      .addSuccess(HealthReport)
      .addError(UnhealthyReport)
  )
{}
