/**
 * The read side: one query service over every read model the projection writer (ProjectionWriter)
 * keeps — project status and settings, executions with their per-task artifacts, Event records
 * with their `task_context`, failed-step records, and the admin views (projects with their last
 * journal seq, execution counts, step durations, cluster runners). Handlers ask this service;
 * none of them writes SQL.
 *
 * SQL errors are defects here (the database is down or corrupt), as in the journal.
 */
import { VerificationResult } from "@devteam/domain/Artifacts"
import { OperationArtifact } from "@devteam/domain/Artifacts"
import { EventRecord } from "@devteam/domain/EventRecord"
import { ExecutionConfig } from "@devteam/domain/ExecutionConfig"
import { ExecutionError } from "@devteam/domain/ExecutionError"
import { ExecutionDetails, ExecutionTaskRecord } from "@devteam/domain/ExecutionsApi"
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
import { ExecutionState, ExecutionStateError, ProjectState } from "@devteam/domain/ProjectState"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Context, Effect, Layer, Option, Schema } from "effect"
import { DbNumber, DbTimestamp, jsonParam } from "./internal/sqlValues.js"
import * as ProjectionWriter from "./ProjectionWriter.js"

// ---------------------------------------------------------------------------------------------
// Read models
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

/** A project's row: its status view and the actor's state (settings, injections, task edits) as of `last_seq`. */
export interface ProjectRecord {
  readonly view: ExecutionState
  readonly state: ProjectState
}

/** A project in the admin list: its status and the seq of its last journal entry. */
export interface AdminProjectRow {
  readonly view: ExecutionState
  readonly lastSeq: number
}

/** A runner registered in the cluster's table (Postgres deployments). */
export interface ClusterRunnerRow {
  readonly address: string
  readonly healthy: boolean
  /** ISO-8601, null when never seen. */
  readonly lastHeartbeat: string | null
}

// ---------------------------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------------------------

const ProjectIdRow = Schema.Struct({ project_id: ProjectId })
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

const CustomerCountsRow = Schema.Struct({ projects: Schema.Number, queued: Schema.Number })

/**
 * A customer's projects, and how many of them wait with a QUEUED execution (`except`'s not
 * counted): what the per-customer limits check on every start, counted by the database.
 */
export const customerCounts = (
  customerId: CustomerId,
  except: ProjectId
): Effect.Effect<typeof CustomerCountsRow.Type, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql`SELECT count(*)::int AS projects,
      (count(*) FILTER (WHERE status = 'QUEUED' AND project_id <> ${except}))::int AS queued
      FROM project_status WHERE customer_id = ${customerId}`
    const decoded = yield* Effect.orDie(Schema.decodeUnknown(Schema.Array(CustomerCountsRow))(rows))
    return decoded[0] ?? { projects: 0, queued: 0 }
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

const ERROR_COLUMNS = "error_id, execution_id, project_id, task_id, step, category, message, details, logs, " +
  "attempts, occurred_at"

const decodeErrorRow = (raw: unknown) =>
  Effect.gen(function*() {
    const row = yield* Schema.decodeUnknown(ErrorRow)(raw)
    return yield* decodeExecutionError({
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
    })
  })

/** The record of a failed step of an execution. */
export const error = (
  executionId: ExecutionId,
  errorId: ErrorId
): Effect.Effect<Option.Option<ExecutionError>, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql`SELECT ${sql.literal(ERROR_COLUMNS)} FROM execution_errors
      WHERE error_id = ${errorId} AND execution_id = ${executionId}`
    if (rows[0] === undefined) return Option.none()
    return Option.some(yield* Effect.orDie(decodeErrorRow(rows[0])))
  })

const TaskRow = Schema.Struct({
  task_id: TaskId,
  title: Schema.NullOr(Schema.String),
  branch: Schema.NullOr(Schema.String),
  status: Schema.Literal("in_progress", "completed", "failed"),
  artifacts: Schema.Array(OperationArtifact),
  verifications: Schema.Array(VerificationResult),
  merge_commit: Schema.NullOr(Schema.String),
  pushed_commit: Schema.NullOr(Schema.String)
})
const decodeTaskRows = Schema.decodeUnknown(Schema.Array(TaskRow))
const ConfigRow = Schema.Struct({ config: Schema.NullOr(ExecutionConfig) })
const decodeConfigRows = Schema.decodeUnknown(Schema.Array(ConfigRow))

/**
 * `GET /api/devteam/executions/{executionId}`: the execution, its configuration, per task (in the
 * order the execution first named them) what IMPLEMENT, VERIFY, MERGE and PUSH produced, and its
 * failed steps in journal order. Three indexed reads of the projection; no journal is read.
 */
export const execution = (
  executionId: ExecutionId
): Effect.Effect<Option.Option<ExecutionDetails>, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql`SELECT ${
      sql.literal(EXECUTION_COLUMNS)
    } FROM executions WHERE execution_id = ${executionId}`
    const [summary] = yield* Effect.orDie(decodeExecutionRows(rows))
    if (summary === undefined) return Option.none()
    const [configRow] = yield* Effect.orDie(Effect.flatMap(
      sql`SELECT config FROM executions WHERE execution_id = ${executionId}`,
      decodeConfigRows
    ))
    const config = configRow?.config ?? null
    if (config === null) return Option.none()
    const tasks = yield* Effect.orDie(Effect.flatMap(
      sql`SELECT task_id, title, branch, status, artifacts, verifications, merge_commit, pushed_commit
        FROM execution_tasks WHERE execution_id = ${executionId} ORDER BY first_seq, task_id`,
      decodeTaskRows
    ))
    const errors = yield* Effect.orDie(Effect.flatMap(
      sql`SELECT ${sql.literal(ERROR_COLUMNS)} FROM execution_errors WHERE execution_id = ${executionId}
        ORDER BY seq NULLS FIRST, occurred_at, error_id`,
      (rows) => Effect.forEach(rows, decodeErrorRow)
    ))
    return Option.some(
      new ExecutionDetails({
        executionId: summary.executionId,
        projectId: summary.projectId,
        customerId: summary.customerId,
        userId: summary.userId,
        status: summary.status,
        config,
        startTime: summary.startTime ?? summary.updatedAt,
        endTime: summary.endTime,
        completedTasks: summary.completedTasks,
        totalTasks: summary.totalTasks,
        progress: summary.progress,
        tasks: tasks.map((t) =>
          new ExecutionTaskRecord({
            taskId: t.task_id,
            title: t.title,
            branch: t.branch,
            status: t.status,
            artifacts: t.artifacts,
            verification: t.verifications[t.verifications.length - 1] ?? null,
            mergeCommit: t.merge_commit,
            pushedCommit: t.pushed_commit
          })
        ),
        errors
      })
    )
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

const SeqRow = Schema.Struct({ project_id: ProjectId, last_seq: DbNumber })

/** Every project's status with the seq of its last journal entry (admin), by project id. */
export const adminProjects: Effect.Effect<ReadonlyArray<AdminProjectRow>, SqlError, SqlClient.SqlClient> = Effect
  .gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const views = yield* projects
    const seqs = yield* Effect.orDie(Effect.flatMap(
      sql`SELECT project_id, max(seq) AS last_seq FROM journal GROUP BY project_id`,
      Schema.decodeUnknown(Schema.Array(SeqRow))
    ))
    const lastSeq = new Map<string, number>(seqs.map((r) => [r.project_id, r.last_seq]))
    return views.map((view) => ({ view, lastSeq: lastSeq.get(view.projectId) ?? 0 }))
  })

const CountRow = Schema.Struct({ status: Schema.String, n: DbNumber })

/** How many executions are in each status (metrics). */
export const executionCounts: Effect.Effect<
  ReadonlyArray<{ readonly status: string; readonly n: number }>,
  SqlError,
  SqlClient.SqlClient
> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql`SELECT status, count(*) AS n FROM executions GROUP BY status ORDER BY status`
  return yield* Effect.orDie(Schema.decodeUnknown(Schema.Array(CountRow))(rows))
})

const StepRow = Schema.Struct({ step: Schema.String, seconds: DbNumber })

/** Each pipeline step's duration over the last 24 hours: from its StepStarted to the project's next entry (metrics). */
export const stepDurations: Effect.Effect<
  ReadonlyArray<{ readonly step: string; readonly seconds: number }>,
  SqlError,
  SqlClient.SqlClient
> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql`SELECT step, seconds FROM (
      SELECT type, data->>'step' AS step,
        EXTRACT(EPOCH FROM (lead(created_at) OVER (PARTITION BY project_id ORDER BY seq) - created_at))::float8 AS seconds
      FROM journal
      WHERE created_at > now() - interval '24 hours' AND type <> 'LogBatch'
    ) t WHERE type = 'StepStarted' AND seconds IS NOT NULL AND step IS NOT NULL`
  return yield* Effect.orDie(Schema.decodeUnknown(Schema.Array(StepRow))(rows))
})

const RunnerRow = Schema.Struct({
  address: Schema.String,
  healthy: Schema.Union(Schema.Boolean, Schema.Number),
  last_heartbeat: Schema.Union(Schema.DateFromSelf, Schema.String, Schema.Null)
})

const toIso = (value: Date | string | null): string | null => {
  if (value === null) return null
  const date = typeof value === "string"
    ? new Date(value.endsWith("Z") || value.includes("+") ? value : `${value}Z`)
    : value
  return Number.isNaN(date.getTime()) ? null : date.toISOString()
}

/**
 * The runners in the cluster's own table (Postgres deployments); none while no runner has
 * registered (a gateway-only deployment: the table does not exist yet).
 */
export const clusterRunners: Effect.Effect<ReadonlyArray<ClusterRunnerRow>, never, SqlClient.SqlClient> = Effect.gen(
  function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql`SELECT address, healthy, last_heartbeat FROM cluster_runners ORDER BY address`
    const decoded = yield* Effect.orDie(Schema.decodeUnknown(Schema.Array(RunnerRow))(rows))
    return decoded.map((r) => ({
      address: r.address,
      healthy: r.healthy === true || r.healthy === 1,
      lastHeartbeat: toIso(r.last_heartbeat)
    }))
  }
).pipe(Effect.catchTag("SqlError", () => Effect.succeed([])))

// ---------------------------------------------------------------------------------------------
// Service
// ---------------------------------------------------------------------------------------------

/** The read models (tables owned, migrated and rebuilt by ProjectionWriter). */
export class Projections extends Context.Tag("@devteam/runtime/Projections")<Projections, {
  /** Projects with an active execution (QUEUED, running, PAUSED), for the runners' wake-up. */
  readonly activeProjects: Effect.Effect<ReadonlyArray<ProjectId>>
  readonly status: (projectId: ProjectId) => Effect.Effect<Option.Option<ExecutionState>>
  /** Every project's status, by project id. */
  readonly projects: Effect.Effect<ReadonlyArray<ExecutionState>>
  /** A project's status view and state (settings, injections, task edits); None when unknown. */
  readonly project: (projectId: ProjectId) => Effect.Effect<Option.Option<ProjectRecord>>
  /** Every known project (optionally one customer's), by project id. */
  readonly projectRecords: (customerId?: CustomerId | undefined) => Effect.Effect<ReadonlyArray<ProjectRecord>>
  /** A customer's projects and QUEUED executions (`except`'s not counted). */
  readonly customerCounts: (
    customerId: CustomerId,
    except: ProjectId
  ) => Effect.Effect<{ readonly projects: number; readonly queued: number }>
  readonly executionsActive: (userId: UserId) => Effect.Effect<ReadonlyArray<ExecutionSummary>>
  readonly executionsHistory: (userId: UserId, limit: number) => Effect.Effect<ReadonlyArray<ExecutionSummary>>
  readonly execution: (executionId: ExecutionId) => Effect.Effect<Option.Option<ExecutionDetails>>
  readonly error: (executionId: ExecutionId, errorId: ErrorId) => Effect.Effect<Option.Option<ExecutionError>>
  readonly eventRecord: (eventId: EventId) => Effect.Effect<Option.Option<EventRecord>>
  /**
   * Stores the Event record of `POST /events` before it is routed (idempotent); the projection
   * later fills its `task_context`, never its `data`.
   */
  readonly insertEventRecord: (record: EventRecord) => Effect.Effect<void>
  readonly adminProjects: Effect.Effect<ReadonlyArray<AdminProjectRow>>
  readonly executionCounts: Effect.Effect<ReadonlyArray<{ readonly status: string; readonly n: number }>>
  readonly stepDurations: Effect.Effect<ReadonlyArray<{ readonly step: string; readonly seconds: number }>>
  readonly clusterRunners: Effect.Effect<ReadonlyArray<ClusterRunnerRow>>
}>() {
  /** The query service and the writer (whose layer migrates the tables) on the configured database. */
  static readonly layer: Layer.Layer<Projections | ProjectionWriter.ProjectionWriter, SqlError, SqlClient.SqlClient> =
    Layer.effect(Projections, Effect.suspend(() => make)).pipe(Layer.provideMerge(ProjectionWriter.layer))
}

export const make: Effect.Effect<Projections["Type"], never, SqlClient.SqlClient | ProjectionWriter.ProjectionWriter> =
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    // the writer's layer has migrated the tables
    yield* ProjectionWriter.ProjectionWriter
    const provide = <A>(effect: Effect.Effect<A, SqlError, SqlClient.SqlClient>): Effect.Effect<A> =>
      Effect.orDie(Effect.provideService(effect, SqlClient.SqlClient, sql))
    return Projections.of({
      activeProjects: provide(activeProjects),
      status: (projectId) => provide(status(projectId)),
      projects: provide(projects),
      project: (projectId) => provide(project(projectId)),
      projectRecords: (customerId) => provide(projectRecords(customerId)),
      customerCounts: (customerId, except) => provide(customerCounts(customerId, except)),
      executionsActive: (userId) => provide(executionsActive(userId)),
      executionsHistory: (userId, limit) => provide(executionsHistory(userId, limit)),
      execution: (executionId) => provide(execution(executionId)),
      error: (executionId, errorId) => provide(error(executionId, errorId)),
      eventRecord: (eventId) => provide(eventRecord(eventId)),
      insertEventRecord: (record) => provide(insertEventRecord(record)),
      adminProjects: provide(adminProjects),
      executionCounts: provide(executionCounts),
      stepDurations: provide(stepDurations),
      clusterRunners: Effect.provideService(clusterRunners, SqlClient.SqlClient, sql)
    })
  })
