/**
 * The `journal` table: its DDL and the decoding of its rows, shared by `Journal` (which owns and
 * writes it) and `ProjectionWriter` (whose rebuild reads it).
 */
import type { ProjectId } from "@devteam/domain/Ids"
import { JournalEntry } from "@devteam/domain/JournalEvent"
import { type EncodedFrame, encodeFrame, JournalFrame } from "@devteam/domain/WsFrame"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect, Schema } from "effect"
import type { Migration } from "./migrations.js"
import { DbNumber, DbTimestamp } from "./sqlValues.js"

export const migrations: ReadonlyArray<Migration> = [
  {
    id: 1,
    name: "journal",
    statements: [
      `CREATE TABLE IF NOT EXISTS journal (
        project_id text NOT NULL,
        seq bigint NOT NULL,
        execution_id uuid,
        type text NOT NULL,
        v integer NOT NULL,
        data jsonb NOT NULL,
        frame jsonb,
        correlation_id text NOT NULL,
        created_at timestamptz NOT NULL,
        PRIMARY KEY (project_id, seq)
      )`,
      `CREATE INDEX IF NOT EXISTS journal_execution_id_idx ON journal (execution_id) WHERE execution_id IS NOT NULL`
    ]
  },
  {
    id: 2,
    name: "journal principal",
    // who caused the entry (a token's `sub`, `local`); null for the runner's own work and older rows
    statements: [`ALTER TABLE journal ADD COLUMN IF NOT EXISTS principal text`]
  }
]

const EntryRow = Schema.Struct({
  seq: DbNumber,
  execution_id: Schema.NullOr(Schema.String),
  correlation_id: Schema.String,
  created_at: DbTimestamp,
  principal: Schema.optional(Schema.NullOr(Schema.String)),
  data: Schema.Unknown
})

const decodeRow = Schema.decodeUnknown(EntryRow)
const decodeJournalEntry = Schema.decodeUnknown(JournalEntry)

/** A row of `SELECT seq, execution_id, correlation_id, created_at, principal, data FROM journal` → entry (defect if corrupt). */
export const decodeEntry = (row: unknown): Effect.Effect<JournalEntry> =>
  decodeRow(row).pipe(
    Effect.flatMap((r) =>
      decodeJournalEntry({
        seq: r.seq,
        executionId: r.execution_id,
        correlationId: r.correlation_id,
        ts: r.created_at,
        ...(r.principal === undefined || r.principal === null ? {} : { principal: r.principal }),
        event: r.data
      })
    ),
    Effect.orDie
  )

const decodeFrameRow = Schema.decodeUnknown(Schema.Struct({ frame: JournalFrame }))

/**
 * A stored frame (defect if corrupt), with its text encoded again from the schema: the same text
 * as when it was appended (the jsonb column keeps neither the text nor its key order).
 */
export const decodeFrame = (row: unknown): Effect.Effect<EncodedFrame> =>
  Effect.orDie(Effect.map(decodeFrameRow(row), (r) => encodeFrame(r.frame)))

/** Entries of a project after `after` (exclusive), oldest first, at most `limit`. */
export const readEntries = (
  projectId: ProjectId,
  after: number,
  limit: number,
  options?: { readonly skipLogBatches?: boolean }
): Effect.Effect<ReadonlyArray<JournalEntry>, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = options?.skipLogBatches === true
      ? yield* sql`SELECT seq, execution_id, correlation_id, created_at, principal, data FROM journal
          WHERE project_id = ${projectId} AND seq > ${after} AND type <> 'LogBatch' ORDER BY seq LIMIT ${limit}`
      : yield* sql`SELECT seq, execution_id, correlation_id, created_at, principal, data FROM journal
          WHERE project_id = ${projectId} AND seq > ${after} ORDER BY seq LIMIT ${limit}`
    return yield* Effect.forEach(rows, decodeEntry)
  })
