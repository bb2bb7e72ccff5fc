/**
 * Work trees are a cache (one per project and repository): a runner removes the ones nobody has
 * used for `WORKSPACE_MAX_IDLE` (24 h), every `WORKSPACE_CLEANUP_INTERVAL` (1 h), skipping any an
 * operation holds. Nothing is lost: a task's work is on the remote from the end of IMPLEMENT
 * (its published branch), and a step that finds its tree gone clones it again.
 */
import * as Correlation from "@devteam/runtime/Correlation"
import { Workspace } from "@devteam/runtime/Workspace"
import { Config, Duration, Effect, Layer, Schedule } from "effect"

export const WorkspaceJanitorConfig = Config.all({
  maxIdle: Config.duration("WORKSPACE_MAX_IDLE").pipe(Config.withDefault(Duration.hours(24))),
  interval: Config.duration("WORKSPACE_CLEANUP_INTERVAL").pipe(Config.withDefault(Duration.hours(1)))
})

/** One cleanup round; how many work trees were removed. */
export const sweep = (maxIdle: Duration.DurationInput) =>
  Effect.gen(function*() {
    const workspace = yield* Workspace
    const result = yield* workspace.cleanup({ olderThan: maxIdle, activeRepoKeys: [] })
    if (result.removed.length > 0) {
      yield* Effect.logInfo(`workspace cleanup removed ${result.removed.length} idle work tree(s)`)
    }
    return result.removed.length
  }).pipe(Correlation.withCorrelationId("workspace-cleanup"), Effect.withSpan("WorkspaceJanitor.sweep"))

/** Cleans up at start-up and every WORKSPACE_CLEANUP_INTERVAL, for the life of the runner. */
export const layer = Layer.scopedDiscard(
  Effect.gen(function*() {
    const { interval, maxIdle } = yield* WorkspaceJanitorConfig
    yield* sweep(maxIdle).pipe(
      Effect.catchAllCause((cause) => Effect.logWarning("workspace cleanup failed", cause)),
      Effect.repeat(Schedule.spaced(interval)),
      Effect.forkScoped
    )
  })
)
