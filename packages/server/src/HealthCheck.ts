/**
 * `GET /health`: every dependency checked in parallel, each bounded by a timeout, so the answer
 * comes in ≤ 500 ms even when a dependency hangs. A required dependency that is down → 503.
 */
import { API_VERSION } from "@devteam/domain/Api"
import type { DependencyStatus } from "@devteam/domain/HealthApi"
import { HealthReport, UnhealthyReport } from "@devteam/domain/HealthApi"
import { Context, DateTime, Duration, Effect, Layer } from "effect"

export type DependencyName = "git" | "aider" | "docker" | "postgres" | "redis" | "filesystem"

export interface DependencyCheck {
  /** A required dependency that is not available makes the service unhealthy (503). */
  readonly required: boolean
  /** The status, plus a short note on which implementation backs it (shown in `details`). */
  readonly check: Effect.Effect<{ readonly status: DependencyStatus; readonly detail?: string }>
}

export type DependencyChecks = Readonly<Record<DependencyName, DependencyCheck>>

export const CHECK_TIMEOUT = Duration.millis(400)

export class HealthCheck extends Context.Tag("@devteam/server/HealthCheck")<
  HealthCheck,
  { readonly report: Effect.Effect<HealthReport, UnhealthyReport> }
>() {}

const names: ReadonlyArray<DependencyName> = ["git", "aider", "docker", "postgres", "redis", "filesystem"]

export const make = (checks: DependencyChecks, role: string) => ({
  report: Effect.gen(function*() {
    const results = yield* Effect.forEach(
      names,
      (name) =>
        checks[name].check.pipe(
          Effect.timeoutTo({
            duration: CHECK_TIMEOUT,
            onTimeout: () => ({ status: "unavailable" as const, detail: "timed out" }),
            onSuccess: (result) => result
          }),
          Effect.map((result) => [name, result] as const)
        ),
      { concurrency: "unbounded" }
    )
    const dependencies = Object.fromEntries(results.map(([name, result]) => [name, result.status]))
    const details = Object.fromEntries(
      results.flatMap(([name, result]) => (result.detail === undefined ? [] : [[name, result.detail]]))
    )
    const down = (name: DependencyName) => {
      const status = dependencies[name]
      return status === "unavailable"
    }
    const unhealthy = names.some((name) => checks[name].required && down(name))
    const degraded = names.some((name) => down(name))
    const body = {
      status: unhealthy ? "unhealthy" as const : degraded ? "degraded" as const : "healthy" as const,
      timestamp: DateTime.formatIso(yield* DateTime.now),
      version: API_VERSION,
      role,
      dependencies: {
        git: dependencies.git ?? "unavailable",
        aider: dependencies.aider ?? "unavailable",
        docker: dependencies.docker ?? "unavailable",
        postgres: dependencies.postgres ?? "unavailable",
        redis: dependencies.redis ?? "unavailable",
        filesystem: dependencies.filesystem ?? "unavailable"
      },
      details
    }
    return unhealthy ? yield* Effect.fail(new UnhealthyReport(body)) : new HealthReport(body)
  }).pipe(Effect.withSpan("HealthCheck.report"))
})

export const layer = (checks: DependencyChecks, role: string): Layer.Layer<HealthCheck> =>
  Layer.succeed(HealthCheck, make(checks, role))
