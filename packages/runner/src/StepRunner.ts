/**
 * The port the execution loop drives: runs one pipeline step for a project and reports its
 * outcome. The pipeline (PREP/IMPLEMENT/VERIFY/… on the runtime's ports) implements it; tests and
 * the actor's own suite use the placeholder.
 *
 * A step must be idempotent: after a crash the loop runs the in-flight step again, and the step
 * must detect work already done instead of doing it twice. Interruption (stop, passivation,
 * shutdown) must release everything the step acquired.
 */
import type { ExecutionError } from "@devteam/domain/ExecutionError"
import type { Step } from "@devteam/domain/ExecutionStatus"
import type { LogLine, StepOutcome } from "@devteam/domain/JournalEvent"
import type { ProjectState } from "@devteam/domain/ProjectState"
import { Context, Data, type Effect, type Scope } from "effect"

export type StepResult = Data.TaggedEnum<{
  /**
   * The step succeeded with this outcome (journaled as is). `logs`: its last log lines, not
   * journaled yet — they go with the outcome, in its transaction.
   */
  Completed: { readonly outcome: StepOutcome; readonly logs?: ReadonlyArray<LogLine> }
  /** SELECT found nothing left to do: the execution completes (with the list's figures when known). */
  Finished: { readonly totalTasks?: number; readonly completedTasks?: number; readonly logs?: ReadonlyArray<LogLine> }
}>
export const StepResult = Data.taggedEnum<StepResult>()

export interface StepContext {
  readonly state: ProjectState
  readonly correlationId: string
  /**
   * The execution's scope: resources acquired in it (the sandbox container) live across steps and
   * are released when the execution loop ends — completion, failure, pause, stop, passivation.
   */
  readonly executionScope: Scope.Scope
  /** Journals execution-log lines (batched by the caller). */
  readonly log: (lines: ReadonlyArray<LogLine>) => Effect.Effect<void>
}

export class StepRunner extends Context.Tag("@devteam/runner/StepRunner")<StepRunner, {
  /** Runs `step`; a failure is the error record to journal (execution → FAILED). */
  readonly run: (step: Step, context: StepContext) => Effect.Effect<StepResult, ExecutionError>
}>() {}
