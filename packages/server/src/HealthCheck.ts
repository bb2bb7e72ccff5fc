/**
 * `GET /health`: every dependency checked in parallel, each bounded by a timeout
 * (`HEALTH_CHECK_TIMEOUT`, 400 ms), so the answer comes in ≤ 500 ms even when a dependency hangs.
 * A required dependency that is down → 503. One report serves every caller for
 * `HEALTH_CACHE_TTL` (500 ms): a flood of /health calls runs the probes (a `git` process among
 * them) once per period, not once per call.
 */
import { API_VERSION } from "@devteam/domain/Api"
import type { DependencyStatus } from "@devteam/domain/HealthApi"
import { HealthReport, UnhealthyReport } from "@devteam/domain/HealthApi"
import { Config, Context, DateTime, Duration, Effect, Layer } from "effect"

export type DependencyName = "git" | "aider" | "docker" | "postgres" | "redis" | "filesystem"

export interface DependencyCheck {
  /** A required dependency that is not available makes the service unhealthy (503). */
  readonly required: boolean
  /** The status, plus a short note on which implementation backs it (shown in `details`). */
  readonly check: Effect.Effect<{ readonly status: DependencyStatus; readonly detail?: string }>
}

export type DependencyChecks = Readonly<Record<DependencyName, DependencyCheck>>

export const CHECK_TIMEOUT = Duration.millis(400)

export interface HealthOptions {
  /** Bound on each dependency's probe. */
  readonly checkTimeout: Duration.Duration
  /** How long one report answers every caller. */
  readonly cacheTtl: Duration.Duration
}

export const HealthConfig: Config.Config<HealthOptions> = Config.all({
  checkTimeout: Config.duration("HEALTH_CHECK_TIMEOUT").pipe(
    Config.withDefault(CHECK_TIMEOUT),
    Config.validate({
      message: "HEALTH_CHECK_TIMEOUT must be between 10 milliseconds and 10 seconds",
      validation: (d) => Duration.between(d, { minimum: Duration.millis(10), maximum: Duration.seconds(10) })
    }),
    Config.withDescription("bound on each dependency probe of /health")
  ),
  cacheTtl: Config.duration("HEALTH_CACHE_TTL").pipe(
    Config.withDefault(Duration.millis(500)),
    Config.validate({
      message: "HEALTH_CACHE_TTL must be at most 1 minute",
      validation: (d) => Duration.lessThanOrEqualTo(d, Duration.minutes(1))
    }),
    Config.withDescription("how long one /health report answers every caller")
  )
})

export class HealthCheck extends Context.Tag("@devteam/server/HealthCheck")<
  HealthCheck,
  { readonly report: Effect.Effect<HealthReport, UnhealthyReport> }
>() {}

const names: ReadonlyArray<DependencyName> = ["git", "aider", "docker", "postgres", "redis", "filesystem"]

export const make = (checks: DependencyChecks, role: string, checkTimeout: Duration.Duration = CHECK_TIMEOUT) => ({
  report: Effect.gen(function*() {
    const results = yield* Effect.forEach(
      names,
      (name) =>
        checks[name].check.pipe(
          Effect.timeoutTo({
            duration: checkTimeout,
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

/** The health check with its options from the environment (`HealthConfig`); one report per cache period. */
export const layer = (checks: DependencyChecks, role: string): Layer.Layer<HealthCheck> =>
  Layer.effect(
    HealthCheck,
    Effect.gen(function*() {
      // validated at start-up (StartupConfig)
      const options = yield* Effect.orDie(HealthConfig)
      const { report } = make(checks, role, options.checkTimeout)
      return { report: yield* Effect.cachedWithTTL(report, options.cacheTtl) }
    })
  )
