import * as GroupCommit from "@devteam/runtime/GroupCommit"
import * as RowWrites from "@devteam/runtime/RowWrites"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, layer } from "@effect/vitest"
import { Array as Arr, Effect, Exit, Fiber, Schema } from "effect"
import { layerPostgres } from "./fixtures/Databases.js"

const TxRow = Schema.Struct({ k: Schema.String, tx: Schema.String })

layer(layerPostgres, { timeout: 60_000, excludeTestServices: true })("GroupCommit (postgres)", (it) => {
  /** One committer, held busy by a slow first append so that the next ones queue and form a batch. */
  const setup = Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`DROP TABLE IF EXISTS gc_rows`
    yield* sql`CREATE TABLE gc_rows (k text PRIMARY KEY, tx text NOT NULL)`
    yield* sql`DROP TABLE IF EXISTS gc_block`
    yield* sql`CREATE TABLE gc_block (n integer)`
    const committer = yield* GroupCommit.make(sql, { concurrency: 1, maxBatch: 64 })
    const insert = (project: string, k: string) =>
      committer.commit({
        projectId: project,
        writes: [sql`INSERT INTO gc_rows (k, tx) VALUES (${k}, txid_current()::text)`]
      })
    // a data-modifying write: Postgres skips a plain SELECT in a WITH that nothing reads (no sleep)
    const blocker = yield* Effect.fork(
      committer.commit({ projectId: "blocker", writes: [sql`INSERT INTO gc_block SELECT 1 FROM pg_sleep(0.4)`] })
    )
    yield* Effect.sleep("100 millis")
    const rows = Effect.flatMap(sql`SELECT k, tx FROM gc_rows ORDER BY k`, Schema.decodeUnknown(Schema.Array(TxRow)))
    return { insert, blocker, rows }
  })

  it.scoped("appends queued behind a running batch commit together; one project's appends never share a batch", () =>
    Effect.gen(function*() {
      const { blocker, insert, rows } = yield* setup
      const exits = yield* Effect.all(
        [
          ...Arr.range(1, 20).map((i) => insert(`p${i}`, `k${String(i).padStart(2, "0")}`)),
          insert("p1", "again-1") // a second append of p1: the next batch
        ].map(Effect.exit),
        { concurrency: "unbounded" }
      )
      yield* Fiber.join(blocker)
      assert.isTrue(exits.every(Exit.isSuccess))
      const written = yield* rows
      assert.strictEqual(written.length, 21)
      const batch = new Set(written.filter((r) => r.k.startsWith("k")).map((r) => r.tx))
      assert.strictEqual(batch.size, 1, "the queued appends were not one batch")
      const again = written.find((r) => r.k === "again-1")
      assert.isTrue(again !== undefined && !batch.has(again.tx), "two appends of one project shared a batch")
    }))

  it.scoped("a failing append in a batch fails alone; the others commit", () =>
    Effect.gen(function*() {
      const { blocker, insert, rows } = yield* setup
      const exits = yield* Effect.all(
        [
          ...Arr.range(1, 8).map((i) => insert(`p${i}`, `k${i}`)),
          insert("dup", "k3"), // hits k3's primary key
          insert("p1", "again-1"), // a second append of p1: next batch
          ...Arr.range(9, 12).map((i) => insert(`p${i}`, `k${i}`))
        ].map(Effect.exit),
        { concurrency: "unbounded" }
      )
      yield* Fiber.join(blocker)
      assert.deepStrictEqual(exits.map(Exit.isSuccess), [
        ...Arr.replicate(true, 8),
        false,
        true,
        ...Arr.replicate(true, 4)
      ])
      assert.strictEqual((yield* rows).length, 13)
    }))

  it.scoped("an append whose writer is interrupted gives its place back: the next appends still commit", () =>
    Effect.gen(function*() {
      const { blocker, insert, rows } = yield* setup
      yield* Fiber.interrupt(blocker)
      yield* insert("p1", "k1")
      const exits = yield* Effect.all([insert("p2", "k2"), insert("p3", "k3")].map(Effect.exit), {
        concurrency: "unbounded"
      })
      assert.isTrue(exits.every(Exit.isSuccess))
      assert.deepStrictEqual((yield* rows).map((r) => r.k), ["k1", "k2", "k3"])
    }))

  it.scoped("a batch's rows of one table go out as one INSERT; rows hitting one key twice fall back to one append at a time", () =>
    Effect.gen(function*() {
      const { blocker, rows } = yield* setup
      const sql = yield* SqlClient.SqlClient
      const upsert = (k: string, tx: string) =>
        new RowWrites.RowsInsert("gc_rows", [{ k, tx }], "ON CONFLICT (k) DO UPDATE SET tx = EXCLUDED.tx")
      const committer = yield* GroupCommit.make(sql, { concurrency: 1, maxBatch: 64 })
      const writes = [upsert("k1", "a"), sql`SELECT 1`, upsert("k2", "a"), upsert("k3", "a")]
      const merged = RowWrites.statements(sql, writes).map((statement) => statement.compile()[0])
      assert.strictEqual(merged.length, 2, merged.join("\n"))
      assert.match(
        merged[0] ?? "",
        /^INSERT INTO "gc_rows" \("k","tx"\) VALUES \(\$1,\$2\),\(\$3,\$4\),\(\$5,\$6\) ON CONFLICT/
      )
      // behind a running batch, so these form one; "same" twice in one INSERT … ON CONFLICT DO UPDATE
      // fails the whole batch (Postgres refuses to update a row twice in one statement)
      const busy = yield* Effect.fork(
        committer.commit({ projectId: "blocker", writes: [sql`INSERT INTO gc_block SELECT 1 FROM pg_sleep(0.3)`] })
      )
      yield* Effect.sleep("50 millis")
      const exits = yield* Effect.all(
        [
          committer.commit({ projectId: "p1", writes: [upsert("k1", "b")] }),
          committer.commit({ projectId: "p2", writes: [upsert("same", "first")] }),
          committer.commit({ projectId: "p3", writes: [upsert("same", "second")] })
        ].map(Effect.exit),
        { concurrency: "unbounded" }
      )
      yield* Fiber.join(busy)
      yield* Fiber.join(blocker)
      assert.isTrue(exits.every(Exit.isSuccess))
      assert.deepStrictEqual((yield* rows).map((r) => [r.k, r.tx]), [["k1", "b"], ["same", "second"]])
    }))
})
