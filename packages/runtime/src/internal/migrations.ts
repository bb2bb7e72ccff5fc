/**
 * Per-module migrations. Each module that owns tables lists its migrations and runs them when its
 * layer is built. All modules share one bookkeeping table (`devteam_migrations`, keyed by module and
 * id) and one transaction-scoped advisory lock, so that concurrent start-ups on one Postgres apply
 * each migration once. On PGlite (a single session) the lock is always granted; the SQL is the same.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect } from "effect"
import { Schema } from "effect"
import { DbNumber } from "./sqlValues.js"

export interface Migration {
  readonly id: number
  readonly name: string
  /** DDL statements, run in order inside the migration transaction. */
  readonly statements: ReadonlyArray<string>
}

/** An arbitrary fixed key: "devteam migrations". */
const MIGRATION_LOCK_KEY = 4_242_017_001

const Applied = Schema.Struct({ migration_id: DbNumber })

/** Applies the module's pending migrations; returns the ids of those this call applied. */
export const run = (
  module: string,
  migrations: ReadonlyArray<Migration>
): Effect.Effect<ReadonlyArray<number>, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const applied = yield* sql.withTransaction(
      Effect.gen(function*() {
        yield* sql`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`
        yield* sql`CREATE TABLE IF NOT EXISTS devteam_migrations (
          module text NOT NULL,
          migration_id integer NOT NULL,
          name text NOT NULL,
          applied_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (module, migration_id)
        )`
        const rows = yield* sql`SELECT migration_id FROM devteam_migrations WHERE module = ${module}`
        const done = new Set(
          rows.flatMap((row) => {
            const decoded = Schema.decodeUnknownOption(Applied)(row)
            return decoded._tag === "Some" ? [decoded.value.migration_id] : []
          })
        )
        const pending = [...migrations].sort((a, b) => a.id - b.id).filter((m) => !done.has(m.id))
        for (const migration of pending) {
          for (const statement of migration.statements) yield* sql.unsafe(statement)
          yield* sql`INSERT INTO devteam_migrations (module, migration_id, name) VALUES (${module}, ${migration.id}, ${migration.name})`
        }
        return pending
      })
    )
    if (applied.length > 0) {
      yield* Effect.logDebug("migrations applied").pipe(
        Effect.annotateLogs({ module, applied: applied.map((m) => `${m.id}_${m.name}`) })
      )
    }
    return applied.map((m) => m.id)
  }).pipe(Effect.withSpan("Migrations.run", { attributes: { module } }))
