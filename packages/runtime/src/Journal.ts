/**
 * The journal: one append-only table, the source of truth of every project.
 *
 * The journal persists, it does not decide nor evolve: the writer (the project's actor) folds its
 * decided events into its own state and hands `append` each event with the state right after it.
 * `append` inserts the events with consecutive `seq` (expectedSeq + 1, …) and writes the
 * projections (from those states) in the same transaction; the primary key `(project_id, seq)` fences a stale writer
 * (another activation wrote first): it gets `JournalFenced` and nothing of its append is kept.
 * Appends of different projects that wait while the database is busy are committed together, in
 * one statement (group commit, `GroupCommit`).
 * After the commit the appended entries' WebSocket frames (encoded once, stored with the row) are
 * published on the `EventBus`; `readFrames` and `lastSeqs` let a consumer fill a gap by `seq`
 * (the gateway's feeds do).
 *
 * SQL errors are defects here (the database is down or corrupt); the only typed failure is fencing.
 */
import type { TaskContext } from "@devteam/domain/EventRecord"
import { type Evolved, fold } from "@devteam/domain/ExecutionMachine"
import { isFinal } from "@devteam/domain/ExecutionStatus"
import type { EventId, ExecutionId, ProjectId } from "@devteam/domain/Ids"
import { JournalEntry, type JournalEvent } from "@devteam/domain/JournalEvent"
import { initial, ProjectState } from "@devteam/domain/ProjectState"
import { type EncodedFrame, encodeFrame, toFrame } from "@devteam/domain/WsFrame"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Array as Arr, Clock, Context, Data, Effect, Layer, Option, Schema, type Scope } from "effect"
import { EventBus } from "./EventBus.js"
import * as GroupCommit from "./GroupCommit.js"
import * as JournalTable from "./internal/journalTable.js"
import * as Migrations from "./internal/migrations.js"
import { DbNumber, isUniqueViolation, jsonParam } from "./internal/sqlValues.js"
import * as ProjectionWriter from "./ProjectionWriter.js"
import * as RowWrites from "./RowWrites.js"

/** Another writer already appended at `seq`: this writer's state is stale; reload and decide again. */
export class JournalFenced extends Data.TaggedError("JournalFenced")<{
  readonly projectId: ProjectId
  readonly seq: number
  readonly message: string
}> {}

export interface AppendInput {
  readonly projectId: ProjectId
  /** The seq of the last entry the writer's state includes (0 for an empty journal). */
  readonly expectedSeq: number
  /** The decided events, each with the project state right after it (`evolveEach`). */
  readonly steps: Arr.NonEmptyReadonlyArray<Evolved>
  readonly correlationId: string
  /** Who caused the events (recorded on each entry); absent for the runner's own work. */
  readonly principal?: string | undefined
}

export interface AppendResult {
  readonly entries: Arr.NonEmptyReadonlyArray<JournalEntry>
  readonly frames: ReadonlyArray<EncodedFrame>
  readonly lastSeq: number
}

export interface JournalService {
  readonly append: (input: AppendInput) => Effect.Effect<AppendResult, JournalFenced>
  /** The project's state (snapshot + later events) and its last seq; `initial` and 0 when it has no journal. */
  readonly load: (projectId: ProjectId) => Effect.Effect<{ readonly state: ProjectState; readonly lastSeq: number }>
  readonly lastSeq: (projectId: ProjectId) => Effect.Effect<number>
  /** The last seq of each of `projectIds` that has a journal, in one query. */
  readonly lastSeqs: (projectIds: ReadonlyArray<ProjectId>) => Effect.Effect<ReadonlyMap<ProjectId, number>>
  /** Entries with seq > `after`, oldest first, at most `limit` (1…1000). */
  readonly read: (projectId: ProjectId, after: number, limit: number) => Effect.Effect<ReadonlyArray<JournalEntry>>
  /** The stored WebSocket frames with seq > `after`, oldest first, at most `limit` (1…1000). */
  readonly readFrames: (
    projectId: ProjectId,
    after: number,
    limit: number
  ) => Effect.Effect<ReadonlyArray<EncodedFrame>>
}

export class Journal extends Context.Tag("@devteam/runtime/Journal")<Journal, JournalService>() {}

/** The execution an entry belongs to (null for work outside an execution). */
const executionIdOf = (event: JournalEvent, after: ProjectState): ExecutionId | null => {
  switch (event._tag) {
    case "SingleStepCompleted":
    case "ProjectConfigured":
    case "ProjectDeleted":
      return null
    case "TaskInjected":
    case "TaskUpdated":
      return after.executionId !== null && !isFinal(after.status) ? after.executionId : null
    default:
      return after.executionId
  }
}

/**
 * Group commit: batches in flight at once (each holds one pooled connection while it runs; the
 * pool's other connections serve reads) and the most appends in one batch.
 */
const COMMITTERS = 3
const MAX_BATCH = 64
const CONTEXT_CACHE_LIMIT = 10_000
const LOAD_PAGE = 1000

const clampLimit = (limit: number): number =>
  Math.max(1, Math.min(1000, Math.floor(Number.isFinite(limit) ? limit : 100)))

/** The project's snapshot (none before its first projection) and its journal's last seq, read together. */
const LoadRow = Schema.Struct({
  max: Schema.NullOr(DbNumber),
  last_seq: Schema.NullOr(DbNumber),
  state: Schema.NullOr(ProjectState)
})
const MaxRow = Schema.Struct({ max: Schema.NullOr(DbNumber) })
const LastSeqRows = Schema.Array(Schema.Struct({ project_id: Schema.String, max: Schema.NullOr(DbNumber) }))

export const make: Effect.Effect<
  JournalService,
  SqlError,
  SqlClient.SqlClient | EventBus | ProjectionWriter.ProjectionWriter | Scope.Scope
> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const bus = yield* EventBus
  const writer = yield* ProjectionWriter.ProjectionWriter
  yield* Migrations.run("journal", JournalTable.migrations)
  const committer = yield* GroupCommit.make(sql, { concurrency: COMMITTERS, maxBatch: MAX_BATCH })

  const provide = <A>(effect: Effect.Effect<A, SqlError, SqlClient.SqlClient>): Effect.Effect<A> =>
    Effect.orDie(Effect.provideService(effect, SqlClient.SqlClient, sql))

  // the task_context this process last wrote per project, valid while nobody else appended since
  const contextCache = new Map<
    ProjectId,
    { readonly seq: number; readonly contexts: ReadonlyMap<EventId, TaskContext> }
  >()

  // untraced and not annotated: the command path's hottest call (a span per append cost more than
  // it told; the caller's log annotations — the actor's projectId and correlationId — apply)
  const append = Effect.fnUntraced(
    function*(input: AppendInput) {
      const { correlationId, projectId } = input
      if (!Number.isSafeInteger(input.expectedSeq) || input.expectedSeq < 0) {
        return yield* Effect.dieMessage(
          `Journal.append: expectedSeq must be a non-negative integer, got ${input.expectedSeq}`
        )
      }
      const ts = new Date(yield* Clock.currentTimeMillis).toISOString()
      const steps: Array<ProjectionWriter.Step> = []
      const frames: Array<EncodedFrame> = []
      const rows: Array<Record<string, unknown>> = []
      input.steps.forEach(({ after, event }, i) => {
        const seq = input.expectedSeq + 1 + i
        const entry = new JournalEntry(
          {
            seq,
            executionId: executionIdOf(event, after),
            correlationId,
            ts,
            ...(input.principal === undefined ? {} : { principal: input.principal }),
            event
          },
          true
        )
        // the frame's only encoding: its text is stored and published as is
        const frame = Option.map(toFrame(entry, after), encodeFrame)
        if (Option.isSome(frame)) frames.push(frame.value)
        rows.push({
          project_id: projectId,
          seq,
          execution_id: entry.executionId,
          type: event._tag,
          v: event.v,
          // the event as it is: no member has a transformation (encoded = typed), so the Schema
          // encode gave the same JSON at a cost (Projections test: stored data == the schema's encoding)
          data: jsonParam(event),
          frame: Option.isSome(frame) ? frame.value.json : null,
          correlation_id: correlationId,
          principal: input.principal ?? null,
          created_at: ts
        })
        steps.push({ entry, after })
      })
      const state = Arr.lastNonEmpty(input.steps).after
      // task_context before this append: what this process wrote at expectedSeq, else the committed row
      const cached = contextCache.get(projectId)
      const known = cached !== undefined && cached.seq === input.expectedSeq ? cached.contexts : undefined
      contextCache.delete(projectId)
      const planned = yield* Effect.orDie(writer.plan(steps, known))
      // one statement: the entries and every projection write, atomic without a transaction round trip;
      // the committer may run it together with other projects' appends (group commit)
      yield* committer.commit({
        projectId,
        writes: [new RowWrites.RowsInsert("journal", rows), ...planned.statements]
      }).pipe(
        Effect.catchAll((error) =>
          isUniqueViolation(error, "journal_pkey")
            ? Effect.fail(
              new JournalFenced({
                projectId,
                seq: input.expectedSeq + 1,
                message: `seq ${input.expectedSeq + 1} of ${projectId} was already written by another writer`
              })
            )
            : Effect.die(error)
        )
      )
      const lastWritten = input.expectedSeq + rows.length
      const contexts = new Map<EventId, TaskContext>()
      const current = state.eventId === null
        ? undefined
        : planned.contexts.get(state.eventId) ?? known?.get(state.eventId)
      if (state.eventId !== null && current !== undefined) contexts.set(state.eventId, current)
      contextCache.set(projectId, { seq: lastWritten, contexts })
      if (contextCache.size > CONTEXT_CACHE_LIMIT) {
        const oldest = contextCache.keys().next()
        if (oldest.done !== true) contextCache.delete(oldest.value)
      }
      yield* bus.publish(projectId, frames)
      const entries = steps.map((step) => step.entry)
      const lastSeq = input.expectedSeq + entries.length
      if (!Arr.isNonEmptyReadonlyArray(entries)) return yield* Effect.dieMessage("append without events")
      return { entries, frames, lastSeq } satisfies AppendResult
    }
  )

  const lastSeq = (projectId: ProjectId) =>
    provide(Effect.gen(function*() {
      const rows = yield* sql`SELECT max(seq) AS max FROM journal WHERE project_id = ${projectId}`
      const row = yield* Effect.orDie(Schema.decodeUnknown(MaxRow)(rows[0] ?? { max: null }))
      return row.max ?? 0
    }))

  const lastSeqs = (projectIds: ReadonlyArray<ProjectId>) =>
    provide(Effect.gen(function*() {
      const last = new Map<ProjectId, number>()
      if (projectIds.length === 0) return last
      // one index probe per project (the journal's primary key, backwards), not a scan of their entries
      const ids = sql.join(", ", false)(projectIds.map((id) => sql`(${id})`))
      const rows = yield* sql`SELECT p.id AS project_id,
          (SELECT max(seq) FROM journal WHERE project_id = p.id) AS max FROM (VALUES ${ids}) AS p(id)`
      const decoded = yield* Effect.orDie(Schema.decodeUnknown(LastSeqRows)(rows))
      const byName = new Map<string, ProjectId>(projectIds.map((id) => [id, id]))
      for (const row of decoded) {
        const id = byName.get(row.project_id)
        if (id !== undefined && row.max !== null) last.set(id, row.max)
      }
      return last
    }))

  const load = Effect.fn("Journal.load")(function*(projectId: ProjectId) {
    // one round trip (an activation's only read when the snapshot is current), one MVCC snapshot
    const rows = yield* provide(
      sql`SELECT (SELECT max(seq) FROM journal WHERE project_id = ${projectId}) AS max, s.last_seq, s.state
          FROM (SELECT 1) AS one LEFT JOIN project_status s ON s.project_id = ${projectId}`
    )
    const row = yield* Effect.orDie(Schema.decodeUnknown(LoadRow)(rows[0]))
    const last = row.max ?? 0
    let state = row.state ?? initial(projectId)
    let after = row.state === null ? 0 : row.last_seq ?? 0
    while (after < last) {
      const entries = yield* provide(
        JournalTable.readEntries(projectId, after, LOAD_PAGE, { skipLogBatches: true })
      )
      const upTo = entries.filter((entry) => entry.seq <= last)
      state = fold(state, upTo.map((entry) => entry.event))
      const tail = upTo[upTo.length - 1]
      if (tail === undefined || entries.length < LOAD_PAGE) break
      after = tail.seq
    }
    return { state, lastSeq: last }
  }, (effect, projectId) => Effect.annotateLogs(effect, { projectId }))

  const read = (projectId: ProjectId, after: number, limit: number) =>
    provide(JournalTable.readEntries(projectId, after, clampLimit(limit)))

  const readFrames = (projectId: ProjectId, after: number, limit: number) =>
    provide(Effect.gen(function*() {
      const rows = yield* sql`SELECT frame FROM journal WHERE project_id = ${projectId} AND seq > ${after}
          AND frame IS NOT NULL ORDER BY seq LIMIT ${clampLimit(limit)}`
      return yield* Effect.forEach(rows, JournalTable.decodeFrame)
    }))

  return {
    append,
    load,
    lastSeq,
    lastSeqs,
    read,
    readFrames
  } satisfies JournalService
})

/** The journal on the configured database; needs the projection writer (and its tables) and the event bus. */
export const layer: Layer.Layer<Journal, SqlError, SqlClient.SqlClient | EventBus | ProjectionWriter.ProjectionWriter> =
  Layer
    .scoped(Journal, make)
