/**
 * The read models derived from the journal, written in the journal's own transaction:
 *
 * - `project_status`: one row per project — the `ExecutionState` (`view`) and a snapshot of the
 *   `ProjectState` (`state`, at `last_seq`) from which an activation folds only later events;
 * - `executions`: one row per execution (active/history per user);
 * - `events`: the seed's Event record with its `task_context` (the row may be inserted by
 *   `POST /events` first; the projection never overwrites its `data`);
 * - `execution_errors`: the record of each failed step.
 *
 * Writers are batch-invariant: writing the steps of several appends at once gives the same rows
 * as writing them append by append, which is what `rebuild` relies on (rebuild == incremental).
 * Every value written is a function of the journal (timestamps are the entries' `ts`).
 * `LogBatch` events have no projection.
 */
import { OperationArtifact, VerificationResult } from "@devteam/domain/Artifacts"
import {
  applyToTaskContext,
  EventData,
  EventRecord,
  TaskContext,
  TaskContextMetadata
} from "@devteam/domain/EventRecord"
import { ExecutionError } from "@devteam/domain/ExecutionError"
import { evolve } from "@devteam/domain/ExecutionMachine"
import { ExecutionStatus, runningStatuses } from "@devteam/domain/ExecutionStatus"
import {
  CustomerId,
  type ErrorId,
  type EventId,
  ExecutionId,
  ProjectId,
  TaskId,
  Timestamp,
  UserId
} from "@devteam/domain/Ids"
import type { JournalEntry, JournalEvent } from "@devteam/domain/JournalEvent"
import {
  ExecutionState,
  ExecutionStateError,
  initial,
  progressOf,
  ProjectState,
  toExecutionState
} from "@devteam/domain/ProjectState"
import * as SqlClient from "@effect/sql/SqlClient"
import type { Row } from "@effect/sql/SqlConnection"
import type { SqlError } from "@effect/sql/SqlError"
import type * as Statement from "@effect/sql/Statement"
import { Context, Effect, Layer, Option, Schema } from "effect"
import * as JournalTable from "./internal/journalTable.js"
import * as Migrations from "./internal/migrations.js"
import { DbNumber, DbTimestamp, jsonParam } from "./internal/sqlValues.js"

export const migrations: ReadonlyArray<Migrations.Migration> = [
  {
    id: 1,
    name: "projections",
    statements: [
      `CREATE TABLE IF NOT EXISTS project_status (
        project_id text PRIMARY KEY,
        customer_id text NOT NULL,
        status text NOT NULL,
        execution_id uuid,
        user_id text,
        last_seq bigint NOT NULL,
        state jsonb NOT NULL,
        view jsonb NOT NULL,
        updated_at timestamptz NOT NULL
      )`,
      `CREATE INDEX IF NOT EXISTS project_status_status_idx ON project_status (status)`,
      `CREATE TABLE IF NOT EXISTS executions (
        execution_id uuid PRIMARY KEY,
        project_id text NOT NULL,
        customer_id text NOT NULL,
        user_id text,
        status text NOT NULL,
        current_task text,
        progress double precision NOT NULL,
        start_time timestamptz,
        end_time timestamptz,
        completed_tasks integer NOT NULL,
        total_tasks integer NOT NULL,
        error jsonb,
        updated_at timestamptz NOT NULL
      )`,
      `CREATE INDEX IF NOT EXISTS executions_user_start_idx ON executions (user_id, start_time DESC)`,
      `CREATE INDEX IF NOT EXISTS executions_project_idx ON executions (project_id)`,
      `CREATE TABLE IF NOT EXISTS events (
        id uuid PRIMARY KEY,
        workflow_type text NOT NULL,
        project_id text NOT NULL,
        execution_id uuid,
        data jsonb NOT NULL,
        task_context jsonb NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
      )`,
      `CREATE INDEX IF NOT EXISTS events_project_idx ON events (project_id)`,
      `CREATE TABLE IF NOT EXISTS execution_errors (
        error_id uuid PRIMARY KEY,
        execution_id uuid NOT NULL,
        project_id text NOT NULL,
        task_id text,
        step text NOT NULL,
        category text NOT NULL,
        message text NOT NULL,
        details jsonb,
        logs jsonb NOT NULL,
        attempts integer NOT NULL,
        occurred_at timestamptz NOT NULL
      )`,
      `CREATE INDEX IF NOT EXISTS execution_errors_execution_idx ON execution_errors (execution_id)`
    ]
  }
]

/** Creates (or upgrades) the projection tables. */
export const migrate: Effect.Effect<void, SqlError, SqlClient.SqlClient> = Migrations.run("projections", migrations)

// ---------------------------------------------------------------------------------------------
// Read models returned to the gateway
// ---------------------------------------------------------------------------------------------

/** A row of `executions`: what active/history list and what `GET /executions/{id}` starts from. */
export class ExecutionSummary extends Schema.Class<ExecutionSummary>("ExecutionSummary")({
  executionId: ExecutionId,
  projectId: ProjectId,
  customerId: CustomerId,
  userId: Schema.NullOr(UserId),
  status: ExecutionStatus,
  currentTask: Schema.NullOr(TaskId),
  progress: Schema.Number,
  startTime: Schema.NullOr(Timestamp),
  endTime: Schema.NullOr(Timestamp),
  completedTasks: Schema.Int,
  totalTasks: Schema.Int,
  error: Schema.NullOr(ExecutionStateError),
  updatedAt: Timestamp
}) {}

/** What each task of an execution produced: IMPLEMENT's Operation Artifacts and VERIFY's results (every attempt). */
export class TaskArtifacts extends Schema.Class<TaskArtifacts>("TaskArtifacts")({
  taskId: TaskId,
  artifacts: Schema.Array(OperationArtifact),
  verifications: Schema.Array(VerificationResult)
}) {}

/** `GET /api/devteam/executions/{executionId}`: the execution and its per-task artifacts, in task order. */
export class ExecutionDetail extends Schema.Class<ExecutionDetail>("ExecutionDetail")({
  execution: ExecutionSummary,
  tasks: Schema.Array(TaskArtifacts)
}) {}

// ---------------------------------------------------------------------------------------------
// Writers
// ---------------------------------------------------------------------------------------------

/** One journal entry and the project state right after it. */
export interface Step {
  readonly entry: JournalEntry
  readonly after: ProjectState
}

const encodeProjectState = Schema.encodeSync(ProjectState)
const encodeExecutionState = Schema.encodeSync(ExecutionState)
const encodeTaskContext = Schema.encodeSync(TaskContext)
const encodeEventData = Schema.encodeSync(EventData)
const encodeStateError = Schema.encodeSync(ExecutionStateError)
const encodeExecutionError = Schema.encodeSync(ExecutionError)
const decodeTaskContext = Schema.decodeUnknown(TaskContext)

const errorView = (state: ProjectState): ExecutionStateError | null =>
  state.status === "FAILED" && state.error !== null
    ? new ExecutionStateError({ errorId: state.error.errorId, message: state.error.message, step: state.error.step })
    : null

/** Events that may change a `task_context` (see `applyToTaskContext`). */
const touchesTaskContext = (event: JournalEvent): boolean => {
  switch (event._tag) {
    case "StepStarted":
    case "TaskSelected":
    case "PrepCompleted":
    case "ImplementCompleted":
    case "VerifyCompleted":
    case "MergeCompleted":
    case "PushCompleted":
    case "TaskListUpdated":
    case "ExecutionCompleted":
    case "StepFailed":
    case "ExecutionStopped":
      return true
    default:
      return false
  }
}

const writeProjectStatus = (sql: SqlClient.SqlClient, { after, entry }: Step) =>
  sql`INSERT INTO project_status ${
    sql.insert({
      project_id: after.projectId,
      customer_id: after.customerId,
      status: after.status,
      execution_id: after.executionId,
      user_id: after.config?.userId ?? null,
      last_seq: entry.seq,
      state: jsonParam(encodeProjectState(after)),
      view: jsonParam(encodeExecutionState(toExecutionState(after, entry.ts))),
      updated_at: entry.ts
    })
  } ON CONFLICT (project_id) DO UPDATE SET
    customer_id = EXCLUDED.customer_id, status = EXCLUDED.status, execution_id = EXCLUDED.execution_id,
    user_id = EXCLUDED.user_id, last_seq = EXCLUDED.last_seq, state = EXCLUDED.state, view = EXCLUDED.view,
    updated_at = EXCLUDED.updated_at`

const writeExecution = (sql: SqlClient.SqlClient, executionId: ExecutionId, { after, entry }: Step) => {
  const error = errorView(after)
  return sql`INSERT INTO executions ${
    sql.insert({
      execution_id: executionId,
      project_id: after.projectId,
      customer_id: after.customerId,
      user_id: after.config?.userId ?? null,
      status: after.status,
      current_task: after.currentTask?.id ?? null,
      progress: progressOf(after),
      start_time: after.startTime,
      end_time: after.endTime,
      completed_tasks: after.completedTasks,
      total_tasks: after.totalTasks,
      error: error === null ? null : jsonParam(encodeStateError(error)),
      updated_at: entry.ts
    })
  } ON CONFLICT (execution_id) DO UPDATE SET
    status = EXCLUDED.status, user_id = EXCLUDED.user_id, current_task = EXCLUDED.current_task,
    progress = EXCLUDED.progress, start_time = EXCLUDED.start_time, end_time = EXCLUDED.end_time,
    completed_tasks = EXCLUDED.completed_tasks, total_tasks = EXCLUDED.total_tasks, error = EXCLUDED.error,
    updated_at = EXCLUDED.updated_at`
}

const writeError = (sql: SqlClient.SqlClient, error: ExecutionError) => {
  const encoded = encodeExecutionError(error)
  return sql`INSERT INTO execution_errors ${
    sql.insert({
      error_id: encoded.errorId,
      execution_id: encoded.executionId,
      project_id: encoded.projectId,
      task_id: encoded.taskId,
      step: encoded.step,
      category: encoded.category,
      message: encoded.message,
      details: encoded.details === undefined ? null : jsonParam(encoded.details),
      logs: jsonParam(encoded.logs),
      attempts: encoded.attempts,
      occurred_at: encoded.occurredAt
    })
  } ON CONFLICT (error_id) DO NOTHING`
}

/** The `data` of an Event record for an execution started without `POST /events` (from its config). */
const eventDataOf = (state: ProjectState): EventData => {
  const config = state.config
  return new EventData({
    projectId: state.projectId,
    ...(config === null ? {} : { repoUrl: config.repoUrl }),
    ...(config?.userId === undefined ? {} : { userId: config.userId }),
    ...(config?.stopPoint === undefined ? {} : { options: { stopPoint: config.stopPoint } })
  })
}

/** Reads the `task_context` of an Event record as committed (None when there is no such record). */
export const readTaskContext = (
  eventId: EventId
): Effect.Effect<Option.Option<TaskContext>, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql`SELECT task_context FROM events WHERE id = ${eventId}`
    const row = rows[0]
    if (row === undefined) return Option.none()
    return Option.some(yield* Effect.orDie(decodeTaskContext(row["task_context"])))
  })

/** task_context of one Event record: starts fresh at ExecutionInitialized, then folds the steps. */
const planTaskContext = <E, R>(
  sql: SqlClient.SqlClient,
  eventId: EventId,
  steps: ReadonlyArray<Step>,
  contextBefore: (eventId: EventId) => Effect.Effect<Option.Option<TaskContext>, E, R>
) =>
  Effect.gen(function*() {
    const first = steps[0]
    if (first === undefined) return Option.none()
    let context: TaskContext | null = null
    let fresh: Step | null = null
    let changedAt: string | null = null
    if (first.entry.event._tag !== "ExecutionInitialized") {
      const before = yield* contextBefore(eventId)
      if (Option.isNone(before)) return Option.none()
      context = before.value
    }
    for (const step of steps) {
      const event = step.entry.event
      if (event._tag === "ExecutionInitialized") {
        fresh = step
        changedAt = step.entry.ts
        context = new TaskContext({
          nodes: {},
          metadata: new TaskContextMetadata({
            correlationId: step.entry.correlationId,
            executionId: event.executionId,
            projectId: step.after.projectId
          })
        })
        continue
      }
      if (context === null || !touchesTaskContext(event)) continue
      const next = applyToTaskContext(context, event)
      if (Option.isSome(next)) {
        context = next.value
        changedAt = step.entry.ts
      }
    }
    if (context === null || changedAt === null) return Option.none()
    const statement = fresh !== null
      ? sql`INSERT INTO events ${
        sql.insert({
          id: eventId,
          workflow_type: "DEVTEAM_AUTOMATION",
          project_id: fresh.after.projectId,
          execution_id: context.metadata.executionId,
          data: jsonParam(encodeEventData(eventDataOf(fresh.after))),
          task_context: jsonParam(encodeTaskContext(context)),
          created_at: fresh.entry.ts,
          updated_at: changedAt
        })
      } ON CONFLICT (id) DO UPDATE SET execution_id = EXCLUDED.execution_id,
        task_context = EXCLUDED.task_context, updated_at = EXCLUDED.updated_at`
      : sql`UPDATE events SET task_context = ${jsonParam(encodeTaskContext(context))}, updated_at = ${changedAt}
        WHERE id = ${eventId}`
    return Option.some({ statement, context })
  })

/** The projection writes of a batch of steps, not yet run. */
export interface Plan {
  /** Data-modifying statements on distinct rows: they may run in any order, or together as one statement. */
  readonly statements: ReadonlyArray<Statement.Statement<Row>>
  /** The task_context of each Event record the batch changed, as written. */
  readonly contexts: ReadonlyMap<EventId, TaskContext>
}

/**
 * Plans the projection writes of `steps` (consecutive entries of one project, oldest first, each
 * with the state after it). `contextBefore` gives an Event record's task_context before the batch
 * (`readTaskContext`, or a cache of what this process wrote).
 */
export const plan = <E, R>(
  steps: ReadonlyArray<Step>,
  contextBefore: (eventId: EventId) => Effect.Effect<Option.Option<TaskContext>, E, R>
): Effect.Effect<Plan, E, R | SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const relevant = steps.filter((step) => step.entry.event._tag !== "LogBatch")
    const last = relevant[relevant.length - 1]
    const contexts = new Map<EventId, TaskContext>()
    if (last === undefined) return { statements: [], contexts }
    const sql = yield* SqlClient.SqlClient
    // a deleted project has no status row (unknown → 404) until something registers it again
    const statements: Array<Statement.Statement<Row>> = [
      last.entry.event._tag === "ProjectDeleted"
        ? sql`DELETE FROM project_status WHERE project_id = ${last.after.projectId}`
        : writeProjectStatus(sql, last)
    ]
    // each execution's row at its last state in this batch
    const lastOfExecution = new Map<ExecutionId, Step>()
    const stepsOfEvent = new Map<EventId, Array<Step>>()
    for (const step of relevant) {
      if (step.entry.executionId !== null) lastOfExecution.set(step.entry.executionId, step)
      const eventId = step.after.eventId
      if (
        eventId !== null && (step.entry.event._tag === "ExecutionInitialized" || touchesTaskContext(step.entry.event))
      ) {
        const list = stepsOfEvent.get(eventId) ?? []
        list.push(step)
        stepsOfEvent.set(eventId, list)
      }
    }
    for (const [executionId, step] of lastOfExecution) statements.push(writeExecution(sql, executionId, step))
    for (const step of relevant) {
      if (step.entry.event._tag === "StepFailed") statements.push(writeError(sql, step.entry.event.error))
    }
    for (const [eventId, list] of stepsOfEvent) {
      const planned = yield* planTaskContext(sql, eventId, list, contextBefore)
      if (Option.isSome(planned)) {
        statements.push(planned.value.statement)
        contexts.set(eventId, planned.value.context)
      }
    }
    return { statements, contexts }
  })

/**
 * Writes the projections of `steps` (see `plan`), one statement after the other. Run it inside the
 * transaction that inserts the entries.
 */
export const write = (steps: ReadonlyArray<Step>): Effect.Effect<void, SqlError, SqlClient.SqlClient> =>
  Effect.flatMap(
    plan(steps, readTaskContext),
    ({ statements }) => Effect.forEach(statements, (s) => s, { discard: true })
  )

// ---------------------------------------------------------------------------------------------
// Rebuild
// ---------------------------------------------------------------------------------------------

const REBUILD_PAGE = 500

/**
 * Drops a project's projections and rebuilds them from its journal, in one transaction. Event
 * records inserted by `POST /events` keep their `data`; their `task_context` is recomputed.
 * Appends to the project must not run concurrently (stop its entity first).
 */
export const rebuildProject = (
  projectId: ProjectId
): Effect.Effect<{ readonly entries: number }, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return yield* sql.withTransaction(Effect.gen(function*() {
      yield* sql`DELETE FROM project_status WHERE project_id = ${projectId}`
      yield* sql`DELETE FROM executions WHERE project_id = ${projectId}`
      yield* sql`DELETE FROM execution_errors WHERE project_id = ${projectId}`
      let state = initial(projectId)
      let after = 0
      let count = 0
      while (true) {
        const entries = yield* JournalTable.readEntries(projectId, after, REBUILD_PAGE)
        const steps = entries.map((entry): Step => {
          state = evolve(state, entry.event)
          return { entry, after: state }
        })
        yield* write(steps)
        count += entries.length
        const last = entries[entries.length - 1]
        if (last === undefined || entries.length < REBUILD_PAGE) break
        after = last.seq
      }
      return { entries: count }
    }))
  }).pipe(Effect.withSpan("Projections.rebuildProject", { attributes: { projectId } }))

const ProjectIdRow = Schema.Struct({ project_id: ProjectId })

/** Rebuilds the projections of every project that has a journal or a projection row. */
export const rebuild: Effect.Effect<
  { readonly projects: number; readonly entries: number },
  SqlError,
  SqlClient.SqlClient
> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql`SELECT DISTINCT project_id FROM journal UNION SELECT project_id FROM project_status
      UNION SELECT project_id FROM executions UNION SELECT project_id FROM execution_errors ORDER BY project_id`
  const ids = yield* Effect.orDie(Schema.decodeUnknown(Schema.Array(ProjectIdRow))(rows))
  let entries = 0
  for (const { project_id } of ids) entries += (yield* rebuildProject(project_id)).entries
  return { projects: ids.length, entries }
}).pipe(Effect.withSpan("Projections.rebuild"))

// ---------------------------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------------------------

const ViewRow = Schema.Struct({ view: ExecutionState })
const decodeViewRows = Schema.decodeUnknown(Schema.Array(ViewRow))

export const status = (
  projectId: ProjectId
): Effect.Effect<Option.Option<ExecutionState>, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* Effect.orDie(
      Effect.flatMap(sql`SELECT view FROM project_status WHERE project_id = ${projectId}`, decodeViewRows)
    )
    return Option.map(Option.fromNullable(rows[0]), (row) => row.view)
  })

/** Every project's status (admin), by project id. */
export const projects: Effect.Effect<ReadonlyArray<ExecutionState>, SqlError, SqlClient.SqlClient> = Effect.gen(
  function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* Effect.orDie(
      Effect.flatMap(sql`SELECT view FROM project_status ORDER BY project_id`, decodeViewRows)
    )
    return rows.map((row) => row.view)
  }
)

/** A project's row: its status view and the actor's state (settings, injections, task edits) as of `last_seq`. */
export interface ProjectRecord {
  readonly view: ExecutionState
  readonly state: ProjectState
}

const RecordRow = Schema.Struct({ view: ExecutionState, state: ProjectState })
const decodeRecordRows = Schema.decodeUnknown(Schema.Array(RecordRow))

/** One project's row (None when it is unknown: never registered, or deleted). */
export const project = (
  projectId: ProjectId
): Effect.Effect<Option.Option<ProjectRecord>, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* Effect.orDie(
      Effect.flatMap(sql`SELECT view, state FROM project_status WHERE project_id = ${projectId}`, decodeRecordRows)
    )
    return Option.fromNullable(rows[0])
  })

/** Every project's row, by project id (optionally one customer's). */
export const projectRecords = (
  customerId: CustomerId | undefined
): Effect.Effect<ReadonlyArray<ProjectRecord>, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const where = customerId === undefined ? sql`` : sql`WHERE customer_id = ${customerId}`
    return yield* Effect.orDie(
      Effect.flatMap(sql`SELECT view, state FROM project_status ${where} ORDER BY project_id`, decodeRecordRows)
    )
  })

const activeStatuses: ReadonlyArray<string> = [...runningStatuses, "PAUSED"]

/** Projects whose execution is active (QUEUED, running, PAUSED): the runners wake them. */
export const activeProjects: Effect.Effect<ReadonlyArray<ProjectId>, SqlError, SqlClient.SqlClient> = Effect.gen(
  function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql`SELECT project_id FROM project_status WHERE status IN ${
      sql.in(activeStatuses)
    } ORDER BY project_id`
    const decoded = yield* Effect.orDie(Schema.decodeUnknown(Schema.Array(ProjectIdRow))(rows))
    return decoded.map((row) => row.project_id)
  }
)

const ExecutionRow = Schema.Struct({
  execution_id: Schema.String,
  project_id: Schema.String,
  customer_id: Schema.String,
  user_id: Schema.NullOr(Schema.String),
  status: Schema.String,
  current_task: Schema.NullOr(Schema.String),
  progress: DbNumber,
  start_time: Schema.NullOr(DbTimestamp),
  end_time: Schema.NullOr(DbTimestamp),
  completed_tasks: DbNumber,
  total_tasks: DbNumber,
  error: Schema.NullOr(Schema.Unknown),
  updated_at: DbTimestamp
})

const ExecutionSummaryFromRow = Schema.transform(ExecutionRow, Schema.encodedSchema(ExecutionSummary), {
  strict: false,
  decode: (row) => ({
    executionId: row.execution_id,
    projectId: row.project_id,
    customerId: row.customer_id,
    userId: row.user_id,
    status: row.status,
    currentTask: row.current_task,
    progress: row.progress,
    startTime: row.start_time,
    endTime: row.end_time,
    completedTasks: row.completed_tasks,
    totalTasks: row.total_tasks,
    error: row.error,
    updatedAt: row.updated_at
  }),
  encode: (summary) => ({
    execution_id: summary.executionId,
    project_id: summary.projectId,
    customer_id: summary.customerId,
    user_id: summary.userId,
    status: summary.status,
    current_task: summary.currentTask,
    progress: summary.progress,
    start_time: summary.startTime,
    end_time: summary.endTime,
    completed_tasks: summary.completedTasks,
    total_tasks: summary.totalTasks,
    error: summary.error,
    updated_at: summary.updatedAt
  })
}).pipe(Schema.compose(ExecutionSummary))

const decodeExecutionRows = Schema.decodeUnknown(Schema.Array(ExecutionSummaryFromRow))

const EXECUTION_COLUMNS = "execution_id, project_id, customer_id, user_id, status, current_task, progress, " +
  "start_time, end_time, completed_tasks, total_tasks, error, updated_at"

/** A user's active executions (QUEUED, running, PAUSED), newest first. */
export const executionsActive = (
  userId: UserId
): Effect.Effect<ReadonlyArray<ExecutionSummary>, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql`SELECT ${sql.literal(EXECUTION_COLUMNS)} FROM executions
      WHERE user_id = ${userId} AND status IN ${sql.in(activeStatuses)}
      ORDER BY start_time DESC NULLS LAST, execution_id`
    return yield* Effect.orDie(decodeExecutionRows(rows))
  })

/** A user's executions, newest first; `limit` is clamped to 1…200. */
export const executionsHistory = (
  userId: UserId,
  limit: number
): Effect.Effect<ReadonlyArray<ExecutionSummary>, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const bounded = Math.max(1, Math.min(200, Math.floor(Number.isFinite(limit) ? limit : 20)))
    const rows = yield* sql`SELECT ${sql.literal(EXECUTION_COLUMNS)} FROM executions
      WHERE user_id = ${userId} ORDER BY start_time DESC NULLS LAST, execution_id LIMIT ${bounded}`
    return yield* Effect.orDie(decodeExecutionRows(rows))
  })

const ArtifactRow = Schema.Struct({ data: Schema.Unknown })

/** The execution and, per task, the Operation Artifacts of IMPLEMENT and the results of VERIFY. */
export const execution = (
  executionId: ExecutionId
): Effect.Effect<Option.Option<ExecutionDetail>, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql`SELECT ${
      sql.literal(EXECUTION_COLUMNS)
    } FROM executions WHERE execution_id = ${executionId}`
    const [summary] = yield* Effect.orDie(decodeExecutionRows(rows))
    if (summary === undefined) return Option.none()
    const artifactRows = yield* sql`SELECT data FROM journal
      WHERE execution_id = ${executionId} AND type IN ('ImplementCompleted', 'VerifyCompleted') ORDER BY seq`
    const byTask = new Map<string, { artifacts: Array<OperationArtifact>; verifications: Array<VerificationResult> }>()
    const order: Array<TaskId> = []
    for (const row of artifactRows) {
      const { data } = yield* Effect.orDie(Schema.decodeUnknown(ArtifactRow)(row))
      const event = yield* Effect.orDie(Schema.decodeUnknown(ArtifactEvent)(data))
      let slot = byTask.get(event.taskId)
      if (slot === undefined) {
        slot = { artifacts: [], verifications: [] }
        byTask.set(event.taskId, slot)
        order.push(event.taskId)
      }
      if (event._tag === "ImplementCompleted") slot.artifacts.push(event.artifact)
      else slot.verifications.push(event.result)
    }
    return Option.some(
      new ExecutionDetail({
        execution: summary,
        tasks: order.map((taskId) => {
          const slot = byTask.get(taskId)
          return new TaskArtifacts({
            taskId,
            artifacts: slot?.artifacts ?? [],
            verifications: slot?.verifications ?? []
          })
        })
      })
    )
  })

const ArtifactEvent = Schema.Union(
  Schema.Struct({ _tag: Schema.Literal("ImplementCompleted"), taskId: TaskId, artifact: OperationArtifact }),
  Schema.Struct({ _tag: Schema.Literal("VerifyCompleted"), taskId: TaskId, result: VerificationResult })
)

const ErrorRow = Schema.Struct({
  error_id: Schema.String,
  execution_id: Schema.String,
  project_id: Schema.String,
  task_id: Schema.NullOr(Schema.String),
  step: Schema.String,
  category: Schema.String,
  message: Schema.String,
  details: Schema.Unknown,
  logs: Schema.Unknown,
  attempts: DbNumber,
  occurred_at: DbTimestamp
})
const decodeExecutionError = Schema.decodeUnknown(ExecutionError)

/** The record of a failed step of an execution. */
export const error = (
  executionId: ExecutionId,
  errorId: ErrorId
): Effect.Effect<Option.Option<ExecutionError>, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql`SELECT error_id, execution_id, project_id, task_id, step, category, message, details,
      logs, attempts, occurred_at FROM execution_errors WHERE error_id = ${errorId} AND execution_id = ${executionId}`
    if (rows[0] === undefined) return Option.none()
    const row = yield* Effect.orDie(Schema.decodeUnknown(ErrorRow)(rows[0]))
    const decoded = yield* Effect.orDie(decodeExecutionError({
      errorId: row.error_id,
      executionId: row.execution_id,
      projectId: row.project_id,
      taskId: row.task_id,
      step: row.step,
      category: row.category,
      message: row.message,
      details: row.details,
      logs: row.logs,
      attempts: row.attempts,
      occurredAt: row.occurred_at
    }))
    return Option.some(decoded)
  })

const EventRow = Schema.Struct({
  id: Schema.String,
  workflow_type: Schema.String,
  data: Schema.Unknown,
  task_context: Schema.Unknown,
  created_at: DbTimestamp,
  updated_at: DbTimestamp
})
const decodeEventRecord = Schema.decodeUnknown(EventRecord)
const encodeEventRecord = Schema.encodeSync(EventRecord)

/** `GET /events/{eventId}`. */
export const eventRecord = (
  eventId: EventId
): Effect.Effect<Option.Option<EventRecord>, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql`SELECT id, workflow_type, data, task_context, created_at, updated_at FROM events
      WHERE id = ${eventId}`
    if (rows[0] === undefined) return Option.none()
    const row = yield* Effect.orDie(Schema.decodeUnknown(EventRow)(rows[0]))
    return Option.some(yield* Effect.orDie(decodeEventRecord(row)))
  })

/**
 * Stores the Event record of `POST /events` before it is routed (idempotent: an existing record
 * with that id is kept). The projection later fills its `task_context`, never its `data`.
 */
export const insertEventRecord = (record: EventRecord): Effect.Effect<void, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const encoded = encodeEventRecord(record)
    yield* sql`INSERT INTO events ${
      sql.insert({
        id: encoded.id,
        workflow_type: encoded.workflow_type,
        project_id: encoded.data.projectId,
        execution_id: encoded.task_context.metadata.executionId,
        data: jsonParam(encoded.data),
        task_context: jsonParam(encoded.task_context),
        created_at: encoded.created_at,
        updated_at: encoded.updated_at
      })
    } ON CONFLICT (id) DO NOTHING`
  })

// ---------------------------------------------------------------------------------------------
// Service
// ---------------------------------------------------------------------------------------------

/** Owns the projection tables (migrated when the layer is built) and rebuilds them. */
export class Projections extends Context.Tag("@devteam/runtime/Projections")<Projections, {
  readonly rebuild: Effect.Effect<{ readonly projects: number; readonly entries: number }>
  readonly rebuildProject: (projectId: ProjectId) => Effect.Effect<{ readonly entries: number }>
}>() {
  static readonly layer: Layer.Layer<Projections, SqlError, SqlClient.SqlClient> = Layer.effect(
    Projections,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* Migrations.run("journal", JournalTable.migrations)
      yield* migrate
      const provide = <A>(effect: Effect.Effect<A, SqlError, SqlClient.SqlClient>) =>
        Effect.orDie(Effect.provideService(effect, SqlClient.SqlClient, sql))
      return {
        rebuild: provide(rebuild),
        rebuildProject: (projectId) => provide(rebuildProject(projectId))
      }
    })
  )
}
