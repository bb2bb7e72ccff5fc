/**
 * Per-project limits a caller cannot exceed (issue 20: resource exhaustion): injected tasks per
 * project. Each is a clear 400 naming its variable when reached.
 */
import { Config } from "effect"

export interface ProjectLimits {
  /** Tasks `POST /api/devteam/tasks/inject` may add to one project. */
  readonly maxInjectedTasks: number
}

export const ProjectLimitsConfig: Config.Config<ProjectLimits> = Config.all({
  maxInjectedTasks: Config.integer("MAX_INJECTED_TASKS").pipe(
    Config.withDefault(200),
    Config.validate({
      message: "MAX_INJECTED_TASKS must be between 1 and 100000",
      validation: (n) => n >= 1 && n <= 100_000
    }),
    Config.withDescription("Injected tasks one project may hold")
  )
})
