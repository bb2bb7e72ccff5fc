/**
 * The projection writer: the read models derived from the journal, written in the journal's own
 * statement or transaction (the append path), and rebuilt from the journal. It owns the projection
 * tables (their migrations run when its layer is built); ProjectionQueries reads them.
 *
 * - `project_status`: one row per project — the `ExecutionState` (`view`) and a snapshot of the
 *   `ProjectState` (`state`, at `last_seq`) from which an activation folds only later events;
 * - `executions`: one row per execution (active/history per user) with its configuration;
 * - `execution_tasks`: per execution and task, what the pipeline did with it (title, branch,
 *   IMPLEMENT's Operation Artifacts, VERIFY's results, merge and push commits, status);
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
import { applyToTaskContext, EventData, TaskContext, TaskContextMetadata } from "@devteam/domain/EventRecord"
import { ExecutionConfig } from "@devteam/domain/ExecutionConfig"
import { ExecutionError } from "@devteam/domain/ExecutionError"
import { evolve } from "@devteam/domain/ExecutionMachine"
import { type EventId, type ExecutionId, ProjectId, type TaskId } from "@devteam/domain/Ids"
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
import type { SqlError } from "@effect/sql/SqlError"
import { Context, Effect, Layer, Option, Schema } from "effect"
import * as JournalTable from "./internal/journalTable.js"
import * as Migrations from "./internal/migrations.js"
import { jsonParam } from "./internal/sqlValues.js"
import * as RowWrites from "./RowWrites.js"

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
  },
  {
    id: 2,
    name: "execution_details",
    statements: [
      `ALTER TABLE executions ADD COLUMN IF NOT EXISTS config jsonb`,
      `ALTER TABLE execution_errors ADD COLUMN IF NOT EXISTS seq bigint`,
      `CREATE TABLE IF NOT EXISTS execution_tasks (
        execution_id uuid NOT NULL,
        task_id text NOT NULL,
        project_id text NOT NULL,
        first_seq bigint NOT NULL,
        title text,
        branch text,
        status text NOT NULL,
        artifacts jsonb NOT NULL,
        verifications jsonb NOT NULL,
        merge_commit text,
        pushed_commit text,
        PRIMARY KEY (execution_id, task_id)
      )`,
      `CREATE INDEX IF NOT EXISTS execution_tasks_project_idx ON execution_tasks (project_id)`
    ]
  },
  {
    id: 3,
    name: "project_status_customer",
    // the per-customer limits count a customer's projects on every start
    statements: [`CREATE INDEX IF NOT EXISTS project_status_customer_idx ON project_status (customer_id, status)`]
  }
]

/** Migration 2 adds columns and a table the rebuild fills for executions projected before it. */
const REBUILD_AFTER = 2

/** One journal entry and the project state right after it. */
export interface Step {
  readonly entry: JournalEntry
  readonly after: ProjectState
}

/**
 * The snapshot and the status view as JSON, from the values as they are: `ProjectState` and
 * `ExecutionState` have no transformation (each field's encoded form is the value itself), so a
 * Schema encode of the whole state on every append — the writer's largest cost — produced the same
 * JSON. Read back with their schemas (Journal.load, Projections); the Projections test checks
 * the written rows against the schemas' encoding on random journals.
 */
const stateJson = (state: ProjectState): string => jsonParam(state)
const viewJson = (view: ExecutionState): string => jsonParam(view)
const encodeTaskContext = Schema.encodeSync(TaskContext)
const encodeEventData = Schema.encodeSync(EventData)
const encodeStateError = Schema.encodeSync(ExecutionStateError)
const encodeExecutionError = Schema.encodeSync(ExecutionError)
const decodeTaskContext = Schema.decodeUnknown(TaskContext)
const encodeExecutionConfig = Schema.encodeSync(ExecutionConfig)
const encodeArtifacts = Schema.encodeSync(Schema.Array(OperationArtifact))
const encodeVerifications = Schema.encodeSync(Schema.Array(VerificationResult))

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

const writeProjectStatus = ({ after, entry }: Step) =>
  new RowWrites.RowsInsert(
    "project_status",
    [{
      project_id: after.projectId,
      customer_id: after.customerId,
      status: after.status,
      execution_id: after.executionId,
      user_id: after.config?.userId ?? null,
      last_seq: entry.seq,
      state: stateJson(after),
      view: viewJson(toExecutionState(after, entry.ts)),
      updated_at: entry.ts
    }],
    `ON CONFLICT (project_id) DO UPDATE SET
    customer_id = EXCLUDED.customer_id, status = EXCLUDED.status, execution_id = EXCLUDED.execution_id,
    user_id = EXCLUDED.user_id, last_seq = EXCLUDED.last_seq, state = EXCLUDED.state, view = EXCLUDED.view,
    updated_at = EXCLUDED.updated_at`
  )

/**
 * An execution's row at `step`, its last state in the batch; `config` is the configuration it was
 * initialised with when the batch holds its ExecutionInitialized (a later settings change of the
 * project is not the execution's).
 */
const writeExecution = (
  executionId: ExecutionId,
  { after, entry }: Step,
  config: ExecutionConfig | null
) => {
  const error = errorView(after)
  return new RowWrites.RowsInsert(
    "executions",
    [{
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
      config: config === null ? null : jsonParam(encodeExecutionConfig(config)),
      updated_at: entry.ts
    }],
    `ON CONFLICT (execution_id) DO UPDATE SET config = COALESCE(EXCLUDED.config, executions.config),
    status = EXCLUDED.status, user_id = EXCLUDED.user_id, current_task = EXCLUDED.current_task,
    progress = EXCLUDED.progress, start_time = EXCLUDED.start_time, end_time = EXCLUDED.end_time,
    completed_tasks = EXCLUDED.completed_tasks, total_tasks = EXCLUDED.total_tasks, error = EXCLUDED.error,
    updated_at = EXCLUDED.updated_at`
  )
}

const writeError = (sql: SqlClient.SqlClient, error: ExecutionError, seq: number) => {
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
      occurred_at: encoded.occurredAt,
      seq
    })
  } ON CONFLICT (error_id) DO NOTHING`
}

/** What a batch did to one task of one execution (folded in journal order). */
interface TaskDelta {
  readonly executionId: ExecutionId
  readonly projectId: ProjectId
  readonly taskId: TaskId
  readonly firstSeq: number
  title: string | null
  branch: string | null
  status: "completed" | "failed" | null
  readonly artifacts: Array<OperationArtifact>
  readonly verifications: Array<VerificationResult>
  mergeCommit: string | null
  pushedCommit: string | null
}

/** The task an event is about, for `execution_tasks` (null when it is about none). */
const taskOf = (event: JournalEvent): TaskId | null => {
  switch (event._tag) {
    case "TaskSelected":
      return event.task.id
    case "PrepCompleted":
    case "ImplementCompleted":
    case "VerifyCompleted":
    case "MergeCompleted":
    case "PushCompleted":
    case "TaskListUpdated":
      return event.taskId
    case "StepFailed":
      return event.error.taskId
    default:
      return null
  }
}

const foldTask = (delta: TaskDelta, event: JournalEvent): void => {
  switch (event._tag) {
    case "TaskSelected":
      delta.title = event.task.title
      break
    case "PrepCompleted":
      delta.branch = event.branch
      break
    case "ImplementCompleted":
      delta.artifacts.push(event.artifact)
      break
    case "VerifyCompleted":
      delta.verifications.push(event.result)
      break
    case "MergeCompleted":
      delta.mergeCommit = event.mergeCommit
      break
    case "PushCompleted":
      delta.pushedCommit = event.commit
      break
    case "TaskListUpdated":
      delta.status = "completed"
      break
    case "StepFailed":
      delta.status = "failed"
      break
    default:
      break
  }
}

/**
 * One upsert per task: values the batch set replace the row's, artifacts and verification results
 * are appended, the position (`first_seq`) is the first entry that named the task.
 */
const writeTask = (sql: SqlClient.SqlClient, delta: TaskDelta) =>
  sql`INSERT INTO execution_tasks ${
    sql.insert({
      execution_id: delta.executionId,
      task_id: delta.taskId,
      project_id: delta.projectId,
      first_seq: delta.firstSeq,
      title: delta.title,
      branch: delta.branch,
      status: delta.status ?? "in_progress",
      artifacts: jsonParam(encodeArtifacts(delta.artifacts)),
      verifications: jsonParam(encodeVerifications(delta.verifications)),
      merge_commit: delta.mergeCommit,
      pushed_commit: delta.pushedCommit
    })
  } ON CONFLICT (execution_id, task_id) DO UPDATE SET
    title = COALESCE(EXCLUDED.title, execution_tasks.title),
    branch = COALESCE(EXCLUDED.branch, execution_tasks.branch),
    status = ${delta.status === null ? sql`execution_tasks.status` : sql`EXCLUDED.status`},
    artifacts = execution_tasks.artifacts || EXCLUDED.artifacts,
    verifications = execution_tasks.verifications || EXCLUDED.verifications,
    merge_commit = COALESCE(EXCLUDED.merge_commit, execution_tasks.merge_commit),
    pushed_commit = COALESCE(EXCLUDED.pushed_commit, execution_tasks.pushed_commit)`

/**
 * The `data` of an Event record for an execution started without `POST /events` (from its config).
 * Here and in `planTaskContext`, records are built from journal entries already decoded: not
 * validated again (true).
 */
const eventDataOf = (state: ProjectState): EventData => {
  const config = state.config
  return new EventData({
    projectId: state.projectId,
    ...(config === null ? {} : { repoUrl: config.repoUrl }),
    ...(config?.userId === undefined ? {} : { userId: config.userId }),
    ...(config?.stopPoint === undefined ? {} : { options: { stopPoint: config.stopPoint } })
  }, true)
}

/** Reads the `task_context` of an Event record as committed (None when there is no such record). */
const readTaskContext = (
  sql: SqlClient.SqlClient,
  eventId: EventId
): Effect.Effect<Option.Option<TaskContext>, SqlError> =>
  Effect.gen(function*() {
    const rows = yield* sql`SELECT task_context FROM events WHERE id = ${eventId}`
    const row = rows[0]
    if (row === undefined) return Option.none()
    return Option.some(yield* Effect.orDie(decodeTaskContext(row["task_context"])))
  })

/** task_context of one Event record: starts fresh at ExecutionInitialized, then folds the steps. */
const planTaskContext = (
  sql: SqlClient.SqlClient,
  eventId: EventId,
  steps: ReadonlyArray<Step>,
  contextBefore: (eventId: EventId) => Effect.Effect<Option.Option<TaskContext>, SqlError>
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
          }, true)
        }, true)
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
  /** Data-modifying writes on distinct rows: they may run in any order, or together as one statement. */
  readonly statements: ReadonlyArray<RowWrites.Write>
  /** The task_context of each Event record the batch changed, as written. */
  readonly contexts: ReadonlyMap<EventId, TaskContext>
}

/**
 * Plans the projection writes of `steps` (consecutive entries of one project, oldest first, each
 * with the state after it). `known` holds Event records' task_context as they were before the batch
 * (a cache of what this process wrote); the others are read as committed.
 */
export const plan = (
  steps: ReadonlyArray<Step>,
  known?: ReadonlyMap<EventId, TaskContext>
): Effect.Effect<Plan, SqlError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => planWith(sql, steps, known))

/** `plan` on the given client (the append path: no service to provide per append). */
const planWith = (
  sql: SqlClient.SqlClient,
  steps: ReadonlyArray<Step>,
  known?: ReadonlyMap<EventId, TaskContext>
): Effect.Effect<Plan, SqlError> =>
  Effect.gen(function*() {
    const contextBefore = (eventId: EventId) => {
      const context = known?.get(eventId)
      return context === undefined ? readTaskContext(sql, eventId) : Effect.succeed(Option.some(context))
    }
    const relevant = steps.filter((step) => step.entry.event._tag !== "LogBatch")
    const last = relevant[relevant.length - 1]
    const contexts = new Map<EventId, TaskContext>()
    if (last === undefined) return { statements: [], contexts }
    // a deleted project has no status row (unknown → 404) until something registers it again
    const statements: Array<RowWrites.Write> = [
      last.entry.event._tag === "ProjectDeleted"
        ? sql`DELETE FROM project_status WHERE project_id = ${last.after.projectId}`
        : writeProjectStatus(last)
    ]
    // each execution's row at its last state in this batch
    const lastOfExecution = new Map<ExecutionId, Step>()
    const configOf = new Map<ExecutionId, ExecutionConfig>()
    const tasks = new Map<string, TaskDelta>()
    const stepsOfEvent = new Map<EventId, Array<Step>>()
    for (const step of relevant) {
      const { event, executionId, seq } = step.entry
      if (executionId !== null) {
        lastOfExecution.set(executionId, step)
        if (event._tag === "ExecutionInitialized") configOf.set(executionId, event.config)
        const taskId = taskOf(event)
        if (taskId !== null) {
          const key = JSON.stringify([executionId, taskId])
          let delta = tasks.get(key)
          if (delta === undefined) {
            delta = {
              executionId,
              projectId: step.after.projectId,
              taskId,
              firstSeq: seq,
              title: null,
              branch: null,
              status: null,
              artifacts: [],
              verifications: [],
              mergeCommit: null,
              pushedCommit: null
            }
            tasks.set(key, delta)
          }
          foldTask(delta, event)
        }
      }
      const eventId = step.after.eventId
      if (
        eventId !== null && (step.entry.event._tag === "ExecutionInitialized" || touchesTaskContext(step.entry.event))
      ) {
        const list = stepsOfEvent.get(eventId) ?? []
        list.push(step)
        stepsOfEvent.set(eventId, list)
      }
    }
    for (const [executionId, step] of lastOfExecution) {
      statements.push(writeExecution(executionId, step, configOf.get(executionId) ?? null))
    }
    for (const delta of tasks.values()) statements.push(writeTask(sql, delta))
    for (const step of relevant) {
      if (step.entry.event._tag === "StepFailed") {
        statements.push(writeError(sql, step.entry.event.error, step.entry.seq))
      }
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
export const apply = (
  steps: ReadonlyArray<Step>,
  known?: ReadonlyMap<EventId, TaskContext>
): Effect.Effect<void, SqlError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.flatMap(
      planWith(sql, steps, known),
      ({ statements }) => Effect.forEach(RowWrites.statements(sql, statements), (s) => s, { discard: true })
    ))

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
      yield* sql`DELETE FROM execution_tasks WHERE project_id = ${projectId}`
      let state = initial(projectId)
      let after = 0
      let count = 0
      while (true) {
        const entries = yield* JournalTable.readEntries(projectId, after, REBUILD_PAGE)
        const steps = entries.map((entry): Step => {
          state = evolve(state, entry.event)
          return { entry, after: state }
        })
        yield* apply(steps)
        count += entries.length
        const last = entries[entries.length - 1]
        if (last === undefined || entries.length < REBUILD_PAGE) break
        after = last.seq
      }
      return { entries: count }
    }))
  }).pipe(Effect.withSpan("ProjectionWriter.rebuildProject", { attributes: { projectId } }))

const ProjectIdRow = Schema.Struct({ project_id: ProjectId })

/** Rebuilds the projections of every project that has a journal or a projection row. */
export const rebuild: Effect.Effect<
  { readonly projects: number; readonly entries: number },
  SqlError,
  SqlClient.SqlClient
> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql`SELECT DISTINCT project_id FROM journal UNION SELECT project_id FROM project_status
      UNION SELECT project_id FROM executions UNION SELECT project_id FROM execution_errors
      UNION SELECT project_id FROM execution_tasks ORDER BY project_id`
  const ids = yield* Effect.orDie(Schema.decodeUnknown(Schema.Array(ProjectIdRow))(rows))
  let entries = 0
  for (const { project_id } of ids) entries += (yield* rebuildProject(project_id)).entries
  return { projects: ids.length, entries }
}).pipe(Effect.withSpan("ProjectionWriter.rebuild"))

// ---------------------------------------------------------------------------------------------
// Service
// ---------------------------------------------------------------------------------------------

/**
 * The writer over the service's database: the projection tables are migrated when the layer is
 * built (and rebuilt from the journal once after a migration that adds what older rows lack).
 */
export class ProjectionWriter extends Context.Tag("@devteam/runtime/ProjectionWriter")<ProjectionWriter, {
  /** The projection writes of `steps`, not yet run (see `plan`): for the statement that inserts the entries. */
  readonly plan: (
    steps: ReadonlyArray<Step>,
    known?: ReadonlyMap<EventId, TaskContext>
  ) => Effect.Effect<Plan, SqlError>
  /** Writes the projections of `steps` within the caller's transaction (the one inserting the entries). */
  readonly apply: (
    steps: ReadonlyArray<Step>,
    known?: ReadonlyMap<EventId, TaskContext>
  ) => Effect.Effect<void, SqlError>
  readonly rebuild: Effect.Effect<{ readonly projects: number; readonly entries: number }>
  readonly rebuildProject: (projectId: ProjectId) => Effect.Effect<{ readonly entries: number }>
}>() {}

export const make: Effect.Effect<ProjectionWriter["Type"], SqlError, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* Migrations.run("journal", JournalTable.migrations)
  const applied = yield* Migrations.run("projections", migrations)
  if (applied.includes(REBUILD_AFTER)) {
    const report = yield* rebuild
    if (report.entries > 0) {
      yield* Effect.logInfo("Projections rebuilt after a migration").pipe(Effect.annotateLogs(report))
    }
  }
  const withSql = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient>) =>
    Effect.provideService(effect, SqlClient.SqlClient, sql)
  return ProjectionWriter.of({
    plan: (steps, known) => planWith(sql, steps, known),
    apply: (steps, known) => withSql(apply(steps, known)),
    rebuild: Effect.orDie(withSql(rebuild)),
    rebuildProject: (projectId) => Effect.orDie(withSql(rebuildProject(projectId)))
  })
})

export const layer: Layer.Layer<ProjectionWriter, SqlError, SqlClient.SqlClient> = Layer.effect(ProjectionWriter, make)
