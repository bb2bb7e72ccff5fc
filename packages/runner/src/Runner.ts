/**
 * The runner's share of a process: the `Project` entity with everything its steps drive, the
 * per-runner execution queue, the wake-up loop and the work-tree cleanup. Needs the storage (journal) and a cluster layer.
 */
import * as GitWorkspace from "@devteam/runtime/GitWorkspace"
import * as Redaction from "@devteam/runtime/Redaction"
import { type Duration, Layer } from "effect"
import * as ExecutionQueue from "./ExecutionQueue.js"
import * as ProjectActor from "./ProjectActor.js"
import * as ProjectWorkTrees from "./ProjectWorkTrees.js"
import type { SingleSteps } from "./SingleSteps.js"
import * as StallWatchdog from "./StallWatchdog.js"
import type { StepRunner } from "./StepRunner.js"
import * as TaskListSource from "./TaskListSource.js"
import * as Wakeup from "./Wakeup.js"
import * as WorkspaceJanitor from "./WorkspaceJanitor.js"

export interface RunnerOptions {
  readonly maxIdleTime?: Duration.DurationInput | undefined
}

/** The entity and wake-up loop over the given step driver and single steps. */
export const layerWith = <E1, R1, E2, R2>(
  steps: Layer.Layer<StepRunner, E1, R1>,
  singleSteps: Layer.Layer<SingleSteps, E2, R2>,
  options: RunnerOptions = {}
) =>
  Layer.mergeAll(
    ProjectActor.layer({ maxIdleTime: options.maxIdleTime ?? ProjectActor.DEFAULT_MAX_IDLE_TIME }),
    Wakeup.layer,
    WorkspaceJanitor.layer
  ).pipe(
    Layer.provide([ExecutionQueue.layerConfig, StallWatchdog.layerConfig, steps, singleSteps, ProjectWorkTrees.layer]),
    // The actor and the pipeline's SELECT both read task lists.
    Layer.provide(TaskListSource.layer),
    Layer.provide(GitWorkspace.layerConfig),
    Layer.provide(Redaction.layer)
  )
