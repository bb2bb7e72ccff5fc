/**
 * Nothing re-activates an entity unless a message reaches it. After a crash or a failover, an
 * execution that was in flight would sit still — so every runner sends `Wake` to each project whose
 * projection shows an active execution, at start-up and then periodically. The message activates
 * the entity on whichever runner owns its shard, and activation resumes the in-flight step.
 */
import * as Correlation from "@devteam/runtime/Correlation"
import { Projections } from "@devteam/runtime/Projections"
import { Config, Duration, Effect, Layer, Schedule } from "effect"
import { Project } from "./ProjectEntity.js"

export const WakeupConfig = Config.duration("WAKEUP_INTERVAL").pipe(
  Config.withDefault(Duration.seconds(5)),
  Config.withDescription("how often a runner wakes projects whose projection shows an active execution")
)

/** Sends `Wake` to every active project once; returns how many were woken. */
export const wakeActive = Effect.gen(function*() {
  const projections = yield* Projections
  const client = yield* Project.client
  const projects = yield* projections.activeProjects
  yield* Effect.forEach(
    projects,
    (projectId) =>
      client(projectId).Wake({ correlationId: "wakeup" }).pipe(
        Effect.timeout("10 seconds"),
        Effect.catchAllCause((cause) =>
          Effect.logDebug("wake-up failed; will retry on the next round", cause).pipe(
            Effect.annotateLogs({ projectId })
          )
        )
      ),
    { concurrency: 16, discard: true }
  )
  return projects.length
}).pipe(Correlation.withCorrelationId("wakeup"), Effect.withSpan("Wakeup.wakeActive"))

/** Wakes active projects at start-up and every WAKEUP_INTERVAL, for the life of the runner. */
export const layer = Layer.scopedDiscard(
  Effect.gen(function*() {
    const interval = yield* WakeupConfig
    yield* wakeActive.pipe(
      Effect.catchAllCause((cause) => Effect.logWarning("wake-up round failed", cause)),
      Effect.repeat(Schedule.spaced(interval)),
      Effect.forkScoped
    )
  })
)
