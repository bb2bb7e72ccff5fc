/**
 * The 13 statuses of a project's execution (`ExecutionState.status`).
 */
import { Schema } from "effect"

export const ExecutionStatus = Schema.Literal(
  "IDLE",
  "QUEUED",
  "SELECTING",
  "PREPARING",
  "IMPLEMENTING",
  "VERIFYING",
  "MERGING",
  "PUSHING",
  "UPDATING_TASKLIST",
  "PAUSED",
  "STOPPED",
  "FAILED",
  "COMPLETED"
)
export type ExecutionStatus = typeof ExecutionStatus.Type

/** A pipeline step; each has the status it shows while it runs. */
export const Step = Schema.Literal("SELECT", "PREP", "IMPLEMENT", "VERIFY", "MERGE", "PUSH", "UPDATE_TASKLIST")
export type Step = typeof Step.Type

export const steps: ReadonlyArray<Step> = ["SELECT", "PREP", "IMPLEMENT", "VERIFY", "MERGE", "PUSH", "UPDATE_TASKLIST"]

export const statusOfStep: Record<Step, ExecutionStatus> = {
  SELECT: "SELECTING",
  PREP: "PREPARING",
  IMPLEMENT: "IMPLEMENTING",
  VERIFY: "VERIFYING",
  MERGE: "MERGING",
  PUSH: "PUSHING",
  UPDATE_TASKLIST: "UPDATING_TASKLIST"
}

/** The step that runs after `step` within one task; `null` after the last one (back to SELECT). */
export const nextStepAfter = (step: Step): Step | null => {
  const i = steps.indexOf(step)
  return i >= 0 && i < steps.length - 1 ? (steps[i + 1] ?? null) : null
}

/** Share of a task's work each step represents, for `progress` (sums to 1; SELECT is free). */
export const stepWeight: Record<Step, number> = {
  SELECT: 0,
  PREP: 0.05,
  IMPLEMENT: 0.5,
  VERIFY: 0.25,
  MERGE: 0.1,
  PUSH: 0.05,
  UPDATE_TASKLIST: 0.05
}

/** Statuses in which the pipeline is working (a step runs or is about to). */
export const runningStatuses: ReadonlyArray<ExecutionStatus> = [
  "QUEUED",
  "SELECTING",
  "PREPARING",
  "IMPLEMENTING",
  "VERIFYING",
  "MERGING",
  "PUSHING",
  "UPDATING_TASKLIST"
]

export const isRunning = (status: ExecutionStatus): boolean => runningStatuses.includes(status)

/** An execution is active until it is COMPLETED, STOPPED or FAILED (a FAILED one may be resumed). */
export const isActive = (status: ExecutionStatus): boolean => isRunning(status) || status === "PAUSED"

/** No execution can move on from these without a new `initialize`. */
export const isFinal = (status: ExecutionStatus): boolean =>
  status === "IDLE" || status === "COMPLETED" || status === "STOPPED"
