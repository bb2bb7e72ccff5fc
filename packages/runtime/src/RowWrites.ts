/**
 * The writes of a journal append: plain statements, and rows to insert (`RowsInsert`). Rows of the
 * same table, columns and conflict clause from several appends of a group-commit batch go out as
 * one multi-row INSERT. Why: Postgres plans a statement of many CTEs slowly — a batch of 40 appends
 * as 120 CTEs (one per row) took 14 ms to plan and 6 ms to run; a batch of 70 as one CTE per table
 * takes 4 ms to plan and 4 to run.
 */
import type { SqlClient } from "@effect/sql/SqlClient"
import type { Row } from "@effect/sql/SqlConnection"
import type * as Statement from "@effect/sql/Statement"

/** Rows for `table`, inserted with `conflict` (the SQL after the VALUES list, "" for none). */
export class RowsInsert {
  constructor(
    readonly table: string,
    readonly rows: ReadonlyArray<Record<string, unknown>>,
    readonly conflict: string = ""
  ) {}
}

export type Write = Statement.Statement<Row> | RowsInsert

/** The rows of one INSERT being merged. */
class Merged {
  readonly rows: Array<Record<string, unknown>>
  constructor(readonly insert: RowsInsert) {
    this.rows = [...insert.rows]
  }
}

/**
 * The statements of `writes`, in the order of their first appearance: the rows of every
 * `RowsInsert` with the same table, conflict clause and columns as one INSERT. Two merged rows
 * that hit one conflict target fail the statement (a group-commit batch then runs its appends
 * one at a time); a batch holds one append per project, so its projections' rows do not.
 */
export const statements = (
  sql: SqlClient,
  writes: ReadonlyArray<Write>
): Array<Statement.Statement<Row>> => {
  const out: Array<Statement.Statement<Row> | Merged> = []
  const merged = new Map<string, Merged>()
  for (const write of writes) {
    if (!(write instanceof RowsInsert)) {
      out.push(write)
      continue
    }
    const first = write.rows[0]
    if (first === undefined) continue
    const key = `${write.table}\u0000${write.conflict}\u0000${Object.keys(first).join(",")}`
    const group = merged.get(key)
    if (group === undefined) {
      const own = new Merged(write)
      merged.set(key, own)
      out.push(own)
    } else {
      group.rows.push(...write.rows)
    }
  }
  return out.map((item) =>
    item instanceof Merged
      ? sql`INSERT INTO ${sql(item.insert.table)} ${sql.insert(item.rows)} ${sql.literal(item.insert.conflict)}`
      : item
  )
}
