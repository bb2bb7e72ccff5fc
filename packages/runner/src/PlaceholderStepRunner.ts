/**
 * PLACEHOLDER step driver: it does nothing but journal. SELECT walks a synthetic list of
 * PLACEHOLDER_TASKS tasks (`1.1`, `1.2`, …) and every other step waits PLACEHOLDER_STEP_MS, then
 * reports success. It exists so that the actor, its mailbox and its failover can be tested on
 * their own; the real pipeline (PipelineStepRunner) replaces it in every entry point.
 */
import {
  OperationArtifact,
  OperationOutputs,
  VerificationArtifacts,
  VerificationResult
} from "@devteam/domain/Artifacts"
import type { Step } from "@devteam/domain/ExecutionStatus"
import { TaskId } from "@devteam/domain/Ids"
import {
  ImplementCompleted,
  MergeCompleted,
  PrepCompleted,
  PushCompleted,
  TaskListUpdated,
  TaskSelected,
  VerifyCompleted
} from "@devteam/domain/JournalEvent"
import { Task } from "@devteam/domain/Task"
import { DateTime, Duration, Effect, Layer } from "effect"
import { ProjectWorkTrees } from "./ProjectWorkTrees.js"
import { SingleSteps } from "./SingleSteps.js"
import { type StepContext, StepResult, StepRunner } from "./StepRunner.js"
import { TaskListSource } from "./TaskListSource.js"

export interface PlaceholderOptions {
  readonly tasks: number
  readonly stepDuration: Duration.DurationInput
}

const syntheticTask = (n: number) =>
  new Task({
    id: TaskId.make(`1.${n}`),
    title: `Placeholder task ${n}`,
    description: "A synthetic task of the placeholder step driver",
    type: "atomic",
    dependencies: [],
    files: [],
    criteria: {},
    phase: 1,
    status: "pending"
  })

export const make = (options: PlaceholderOptions) =>
  StepRunner.of({
    run: (step: Step, context: StepContext) =>
      Effect.gen(function*() {
        yield* Effect.sleep(options.stepDuration)
        const at = DateTime.formatIso(yield* DateTime.now)
        const state = context.state
        const done = state.completedTasks
        if (step === "SELECT") {
          if (done >= options.tasks) return StepResult.Finished({})
          return StepResult.Completed({
            outcome: new TaskSelected({
              v: 1,
              at,
              task: syntheticTask(done + 1),
              totalTasks: options.tasks,
              completedTasks: done
            })
          })
        }
        const task = state.currentTask
        if (task === null) return yield* Effect.dieMessage(`${step} without a selected task`)
        const taskId = task.id
        switch (step) {
          case "PREP":
            return StepResult.Completed({
              outcome: new PrepCompleted({
                v: 1,
                at,
                taskId,
                branch: `task/${taskId.replaceAll(".", "-")}`,
                repoPath: "",
                cloned: false,
                branchCreated: true
              })
            })
          case "IMPLEMENT":
            return StepResult.Completed({
              outcome: new ImplementCompleted({
                v: 1,
                at,
                taskId,
                commit: null,
                artifact: new OperationArtifact({
                  operation: "implement",
                  taskId,
                  tool: "placeholder",
                  success: true,
                  duration: Duration.toSeconds(options.stepDuration),
                  outputs: new OperationOutputs({
                    diff: "",
                    stdout: "",
                    stderr: "",
                    filesModified: [],
                    linesChanged: 0
                  })
                })
              })
            })
          case "VERIFY":
            return StepResult.Completed({
              outcome: new VerifyCompleted({
                v: 1,
                at,
                taskId,
                result: new VerificationResult({
                  taskId,
                  success: true,
                  results: {},
                  artifacts: new VerificationArtifacts({ buildOutput: "" }),
                  attempts: []
                })
              })
            })
          case "MERGE":
            return StepResult.Completed({
              outcome: new MergeCompleted({ v: 1, at, taskId, mergeCommit: "placeholder", alreadyMerged: false })
            })
          case "PUSH":
            return StepResult.Completed({
              outcome: new PushCompleted({ v: 1, at, taskId, commit: "placeholder", alreadyPushed: false })
            })
          case "UPDATE_TASKLIST":
            return StepResult.Completed({
              outcome: new TaskListUpdated({
                v: 1,
                at,
                taskId,
                commit: null,
                completedTasks: done + 1,
                totalTasks: options.tasks
              })
            })
        }
      })
  })

export const layer = (options: PlaceholderOptions): Layer.Layer<StepRunner> => Layer.succeed(StepRunner, make(options))

const unused = (what: string) => Effect.dieMessage(`${what}: not used with the placeholder step driver`)

/**
 * The rest of an actor run on the placeholder driver alone: the single-step routes and the task
 * list are never used (they die if called), and there are no work trees to remove.
 */
export const unusedParts: Layer.Layer<SingleSteps | TaskListSource | ProjectWorkTrees> = Layer.mergeAll(
  Layer.succeed(SingleSteps, {
    prep: () => unused("prep"),
    implement: () => unused("implement"),
    verify: () => unused("verify")
  }),
  Layer.succeed(TaskListSource, {
    read: () => unused("the task list"),
    cached: () => unused("the task list"),
    remember: () => Effect.void
  }),
  Layer.succeed(ProjectWorkTrees, { remove: () => Effect.void })
)
