/** `GET /health` (no authentication). */
import { DevTeamApi } from "@devteam/domain/Api"
import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import { HealthCheck } from "../HealthCheck.js"

export const layer = HttpApiBuilder.group(
  DevTeamApi,
  "health",
  (handlers) => handlers.handle("health", () => Effect.flatMap(HealthCheck, (health) => health.report))
)
