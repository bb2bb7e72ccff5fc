/**
 * The seed's Event record (`POST /events`, `GET /events/{eventId}`): the ingested event plus its
 * `task_context`, a projection of the journal. Field names keep the seed's snake_case.
 */
import { Option, Schema } from "effect"
import type { Step } from "./ExecutionStatus.js"
import { ExecutionId, ProjectId, Timestamp } from "./Ids.js"
import type { JournalEvent } from "./JournalEvent.js"

export const WorkflowType = Schema.Literal("DEVTEAM_AUTOMATION")
export type WorkflowType = typeof WorkflowType.Type

export const NodeName = Schema.Literal(
  "SelectNode",
  "PrepNode",
  "ImplementNode",
  "VerifyNode",
  "MergeNode",
  "PushNode",
  "UpdateTaskListNode"
)
export type NodeName = typeof NodeName.Type

export const nodeOfStep: Record<Step, NodeName> = {
  SELECT: "SelectNode",
  PREP: "PrepNode",
  IMPLEMENT: "ImplementNode",
  VERIFY: "VerifyNode",
  MERGE: "MergeNode",
  PUSH: "PushNode",
  UPDATE_TASKLIST: "UpdateTaskListNode"
}

export const NodeStatus = Schema.Literal("running", "completed", "failed", "stopped")

export class NodeState extends Schema.Class<NodeState>("NodeState")({
  status: NodeStatus,
  taskId: Schema.optional(Schema.NullOr(Schema.String)),
  startedAt: Schema.optional(Timestamp),
  completedAt: Schema.optional(Timestamp),
  output: Schema.optional(Schema.Unknown)
}) {}

export class TaskContextMetadata extends Schema.Class<TaskContextMetadata>("TaskContextMetadata")({
  correlationId: Schema.String,
  executionId: ExecutionId,
  projectId: ProjectId
}) {}

export class TaskContext extends Schema.Class<TaskContext>("TaskContext")({
  nodes: Schema.partial(Schema.Record({ key: NodeName, value: NodeState })),
  metadata: TaskContextMetadata
}) {}

/** `POST /events` body `data`. */
export class EventData extends Schema.Class<EventData>("EventData")({
  projectId: ProjectId,
  repoUrl: Schema.optional(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(2048))),
  userId: Schema.optional(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200))),
  task: Schema.optional(Schema.Struct({ id: Schema.String, title: Schema.optional(Schema.String) })),
  options: Schema.optional(Schema.Struct({
    stopPoint: Schema.optional(Schema.NullOr(Schema.String)),
    idempotencyKey: Schema.optional(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200)))
  }))
}) {}

export class EventRecord extends Schema.Class<EventRecord>("EventRecord")({
  id: Schema.String,
  workflow_type: WorkflowType,
  data: EventData,
  task_context: TaskContext,
  created_at: Timestamp,
  updated_at: Timestamp
}) {}

/** Applies one journal event to a task_context; `None` when the event does not touch it. */
export const applyToTaskContext = (context: TaskContext, event: JournalEvent): Option.Option<TaskContext> => {
  const set = (node: NodeName, state: NodeState) =>
    Option.some(new TaskContext({ nodes: { ...context.nodes, [node]: state }, metadata: context.metadata }, true))
  const finish = (node: NodeName, at: string, output: unknown) => {
    const previous = context.nodes[node]
    return set(
      node,
      new NodeState({
        status: "completed",
        taskId: previous?.taskId ?? null,
        ...(previous?.startedAt === undefined ? {} : { startedAt: previous.startedAt }),
        completedAt: at,
        output
      }, true)
    )
  }
  switch (event._tag) {
    case "StepStarted":
      return set(
        nodeOfStep[event.step],
        new NodeState({ status: "running", taskId: event.taskId, startedAt: event.at }, true)
      )
    case "TaskSelected":
      return finish("SelectNode", event.at, { taskId: event.task.id, title: event.task.title })
    case "PrepCompleted":
      return finish("PrepNode", event.at, {
        taskId: event.taskId,
        branch: event.branch,
        repoPath: event.repoPath,
        cloned: event.cloned,
        branchCreated: event.branchCreated
      })
    case "ImplementCompleted":
      return finish("ImplementNode", event.at, { taskId: event.taskId, artifact: event.artifact, commit: event.commit })
    case "VerifyCompleted":
      return finish("VerifyNode", event.at, { taskId: event.taskId, result: event.result })
    case "MergeCompleted":
      return finish("MergeNode", event.at, { taskId: event.taskId, mergeCommit: event.mergeCommit })
    case "PushCompleted":
      return finish("PushNode", event.at, { taskId: event.taskId, commit: event.commit })
    case "TaskListUpdated":
      return finish("UpdateTaskListNode", event.at, { taskId: event.taskId, commit: event.commit })
    case "ExecutionCompleted":
      return event.reason === "finished"
        ? finish("SelectNode", event.at, { taskId: null, finished: true })
        : Option.none()
    case "StepFailed": {
      const node = nodeOfStep[event.error.step]
      const previous = context.nodes[node]
      return set(
        node,
        new NodeState({
          status: "failed",
          taskId: event.error.taskId,
          ...(previous?.startedAt === undefined ? {} : { startedAt: previous.startedAt }),
          completedAt: event.at,
          output: { errorId: event.error.errorId, category: event.error.category, message: event.error.message }
        }, true)
      )
    }
    case "ExecutionStopped": {
      const running = Object.entries(context.nodes).find(([, state]) => state?.status === "running")
      if (running === undefined) return Option.none()
      const [name] = running
      const node = NodeName.literals.find((n) => n === name)
      const previous = node === undefined ? undefined : context.nodes[node]
      return node === undefined || previous === undefined
        ? Option.none()
        : set(node, new NodeState({ ...previous, status: "stopped", completedAt: event.at }, true))
    }
    default:
      return Option.none()
  }
}
