/**
 * Commands the execution state machine decides on. Client commands come through the Project
 * entity's RPCs; pipeline commands come from the entity's own execution fiber. Each carries `at`,
 * the time of decision, so that `decide` stays pure.
 */
import { Data } from "effect"
import type { ExecutionConfig } from "./ExecutionConfig.js"
import type { ExecutionError } from "./ExecutionError.js"
import type { Step } from "./ExecutionStatus.js"
import type { EventId, ExecutionId, TaskId, Timestamp } from "./Ids.js"
import type { InjectedTask, TaskPatch } from "./Injection.js"
import type { LogLine, SingleStepCompleted, StepOutcome } from "./JournalEvent.js"

export type ExecutionCommand = Data.TaggedEnum<{
  Initialize: {
    readonly executionId: ExecutionId
    readonly eventId: EventId
    readonly config: ExecutionConfig
    readonly at: Timestamp
  }
  Pause: { readonly at: Timestamp }
  Resume: { readonly at: Timestamp }
  Stop: { readonly reason: string; readonly at: Timestamp }
  InjectTask: { readonly injection: InjectedTask; readonly position: number; readonly at: Timestamp }
  UpdateTask: { readonly taskId: TaskId; readonly patch: TaskPatch; readonly at: Timestamp }
  StartStep: { readonly step: Step; readonly taskId: TaskId | null; readonly at: Timestamp }
  CompleteStep: { readonly outcome: StepOutcome }
  /** SELECT found nothing left to do; the list's figures when known (a list already complete). */
  Finish: { readonly at: Timestamp; readonly totalTasks?: number; readonly completedTasks?: number }
  FailStep: { readonly error: ExecutionError; readonly at: Timestamp }
  /** The pipeline reached a step boundary with a pause pending. */
  PauseAtBoundary: { readonly at: Timestamp }
  AppendLogs: {
    readonly taskId: TaskId | null
    readonly step: Step | null
    readonly lines: ReadonlyArray<LogLine>
    readonly at: Timestamp
  }
  RecordSingleStep: { readonly record: SingleStepCompleted }
  /** Register or change the project's settings; `by` is the principal. */
  Configure: { readonly config: ExecutionConfig; readonly by: string; readonly at: Timestamp }
  DeleteProject: { readonly by: string; readonly at: Timestamp }
}>

export const ExecutionCommand = Data.taggedEnum<ExecutionCommand>()
