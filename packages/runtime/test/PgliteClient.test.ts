import * as PgliteClient from "@devteam/runtime/PgliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import { assert, describe, it, layer } from "@effect/vitest"
import { Cause, Deferred, Effect, Exit, Fiber, Layer, Schema } from "effect"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"

const Count = Schema.Struct({ n: Schema.String })
const countOf = (rows: ReadonlyArray<unknown>): number => Number(Schema.decodeUnknownSync(Count)(rows[0]).n)

const setup = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE IF NOT EXISTS items (id int PRIMARY KEY, name text NOT NULL, big bigint, doc jsonb, at timestamptz)`
  yield* sql`DELETE FROM items`
  return sql
})

layer(PgliteClient.layer({}), { timeout: 60_000, excludeTestServices: true })("PgliteClient (in memory)", (it) => {
  it.effect("runs template queries, sql.insert and sql.in, and parses values as pg does", () =>
    Effect.gen(function*() {
      const sql = yield* setup
      yield* sql`INSERT INTO items ${
        sql.insert([
          { id: 1, name: "one", big: 9_007_199_254_740_993n.toString(), doc: JSON.stringify({ a: [1, 2] }), at: null },
          { id: 2, name: "two", big: "2", doc: JSON.stringify(["x"]), at: "2025-01-14T18:25:00.000Z" }
        ])
      }`
      const rows = yield* sql`SELECT id, name, big, doc, at FROM items WHERE id IN ${sql.in([1, 2])} ORDER BY id`
      assert.strictEqual(rows.length, 2)
      const [first, second] = rows
      assert.deepStrictEqual(first, { id: 1, name: "one", big: "9007199254740993", doc: { a: [1, 2] }, at: null })
      assert.strictEqual(second?.["big"], "2")
      assert.deepStrictEqual(second?.["doc"], ["x"])
      const at = second?.["at"]
      assert.isTrue(at instanceof Date)
      assert.strictEqual(at instanceof Date ? at.toISOString() : "", "2025-01-14T18:25:00.000Z")
      assert.strictEqual(countOf(yield* sql`SELECT count(*) AS n FROM items`), 2)
      const values = yield* sql`SELECT id FROM items ORDER BY id`.values
      assert.deepStrictEqual(values, [[1], [2]])
    }))

  it.effect("reports a unique violation as SqlError with the Postgres code 23505", () =>
    Effect.gen(function*() {
      const sql = yield* setup
      yield* sql`INSERT INTO items (id, name) VALUES (1, 'a')`
      const error = yield* Effect.flip(sql`INSERT INTO items (id, name) VALUES (1, 'b')`)
      assert.isTrue(error instanceof SqlError)
      const cause = error.cause
      assert.isTrue(typeof cause === "object" && cause !== null && "code" in cause && cause.code === "23505")
    }))

  it.effect("commits and rolls back transactions, nested ones as savepoints", () =>
    Effect.gen(function*() {
      const sql = yield* setup
      yield* sql.withTransaction(sql`INSERT INTO items (id, name) VALUES (1, 'committed')`)
      const failed = yield* Effect.exit(
        sql.withTransaction(
          sql`INSERT INTO items (id, name) VALUES (2, 'rolled back')`.pipe(Effect.zipRight(Effect.fail("boom")))
        )
      )
      assert.isTrue(Exit.isFailure(failed))
      yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql`INSERT INTO items (id, name) VALUES (3, 'outer')`
        const inner = yield* Effect.exit(sql.withTransaction(
          sql`INSERT INTO items (id, name) VALUES (4, 'inner, rolled back')`.pipe(Effect.zipRight(Effect.fail("inner")))
        ))
        assert.isTrue(Exit.isFailure(inner))
        yield* sql.withTransaction(sql`INSERT INTO items (id, name) VALUES (5, 'inner, kept')`)
        // a failed statement inside a savepoint does not poison the outer transaction
        const violation = yield* Effect.exit(sql.withTransaction(sql`INSERT INTO items (id, name) VALUES (3, 'dup')`))
        assert.isTrue(Exit.isFailure(violation))
      }))
      const ids = (yield* sql`SELECT id FROM items ORDER BY id`.values).map((row) => row[0])
      assert.deepStrictEqual(ids, [1, 3, 5])
    }))

  it.effect("serialises access: no statement of another fiber runs inside an open transaction", () =>
    Effect.gen(function*() {
      const sql = yield* setup
      const inTransaction = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      // A: opens a transaction, inserts, waits, then fails (rolls back)
      const a = yield* Effect.fork(Effect.exit(sql.withTransaction(Effect.gen(function*() {
        yield* sql`INSERT INTO items (id, name) VALUES (1, 'a')`
        yield* Deferred.succeed(inTransaction, undefined)
        yield* Deferred.await(release)
        return yield* Effect.fail("rollback a")
      }))))
      yield* Deferred.await(inTransaction)
      // B: a plain insert and a read while A's transaction is open: they must wait for A to end
      const b = yield* Effect.fork(Effect.gen(function*() {
        yield* sql`INSERT INTO items (id, name) VALUES (2, 'b')`
        return countOf(yield* sql`SELECT count(*) AS n FROM items`)
      }))
      yield* Effect.sleep("50 millis")
      assert.isNull(b.unsafePoll(), "B ran while A's transaction was open")
      yield* Deferred.succeed(release, undefined)
      const aExit = yield* Fiber.join(a)
      assert.isTrue(Exit.isFailure(aExit))
      // B's insert was not swallowed by A's rollback and B never saw A's uncommitted row
      assert.strictEqual(yield* Fiber.join(b), 1)
      const ids = (yield* sql`SELECT id FROM items ORDER BY id`.values).map((row) => row[0])
      assert.deepStrictEqual(ids, [2])
    }))

  it.effect("waiters get the session in arrival order", () =>
    Effect.gen(function*() {
      const sql = yield* setup
      const holding = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const holder = yield* Effect.fork(sql.withTransaction(
        Effect.zipRight(Deferred.succeed(holding, undefined), Deferred.await(release))
      ))
      yield* Deferred.await(holding)
      const waiters: Array<Fiber.RuntimeFiber<unknown, SqlError>> = []
      for (let i = 1; i <= 8; i++) {
        waiters.push(yield* Effect.fork(sql`INSERT INTO items (id, name) VALUES (${i}, ${`w${i}`})`))
        yield* Effect.sleep("2 millis")
      }
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(holder)
      yield* Effect.forEach(waiters, Fiber.join, { discard: true })
      const order = (yield* sql`SELECT id FROM items ORDER BY xmin::text::bigint`.values).map((row) => row[0])
      assert.deepStrictEqual(order, [1, 2, 3, 4, 5, 6, 7, 8])
    }))

  it.effect("many concurrent transactions each see only their own work", () =>
    Effect.gen(function*() {
      const sql = yield* setup
      yield* Effect.forEach(
        Array.from({ length: 40 }, (_, i) => i),
        (i) =>
          sql.withTransaction(Effect.gen(function*() {
            const before = countOf(yield* sql`SELECT count(*) AS n FROM items`)
            yield* sql`INSERT INTO items (id, name) VALUES (${i}, ${`n${before}`})`
            const after = countOf(yield* sql`SELECT count(*) AS n FROM items`)
            assert.strictEqual(after, before + 1)
          })),
        { concurrency: "unbounded", discard: true }
      )
      const names = (yield* sql`SELECT name FROM items ORDER BY name`.values).map((row) => row[0])
      assert.deepStrictEqual(new Set(names).size, 40)
    }))

  it.effect("an interrupted transaction rolls back and frees the session", () =>
    Effect.gen(function*() {
      const sql = yield* setup
      const started = yield* Deferred.make<void>()
      const fiber = yield* Effect.fork(sql.withTransaction(Effect.gen(function*() {
        yield* sql`INSERT INTO items (id, name) VALUES (1, 'interrupted')`
        yield* Deferred.succeed(started, undefined)
        return yield* Effect.never
      })))
      yield* Deferred.await(started)
      // a waiter for the permit can itself be interrupted
      const waiter = yield* Effect.fork(sql`SELECT 1`)
      yield* Effect.sleep("10 millis")
      yield* Fiber.interrupt(waiter)
      const exit = yield* Fiber.interrupt(fiber)
      assert.isTrue(Exit.isInterrupted(exit))
      assert.strictEqual(countOf(yield* sql`SELECT count(*) AS n FROM items`), 0)
      const timed = yield* sql`SELECT 1 AS one`.pipe(Effect.timeout("2 seconds"))
      assert.deepStrictEqual(timed, [{ one: 1 }])
    }))

  it.effect("a failing statement surfaces as SqlError, not a defect", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const exit = yield* Effect.exit(sql`SELECT * FROM no_such_table`)
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) assert.isTrue(Cause.failureOption(exit.cause)._tag === "Some")
    }))
})

describe("PgliteClient (on disk)", () => {
  it.live("keeps data under dataDir across close and reopen", () =>
    Effect.acquireUseRelease(
      Effect.promise(() => Fs.mkdtemp(Path.join(Os.tmpdir(), "pglite-test-"))),
      (dir) =>
        Effect.gen(function*() {
          const dataDir = Path.join(dir, "db")
          const write = Effect.gen(function*() {
            const sql = yield* SqlClient.SqlClient
            yield* sql`CREATE TABLE kept (id int PRIMARY KEY)`
            yield* sql.withTransaction(sql`INSERT INTO kept VALUES (42)`)
          })
          yield* Effect.provide(write, PgliteClient.layer({ dataDir }))
          const read = Effect.gen(function*() {
            const sql = yield* SqlClient.SqlClient
            return yield* sql`SELECT id FROM kept`.values
          })
          const rows = yield* Effect.provide(read, Layer.fresh(PgliteClient.layer({ dataDir })))
          assert.deepStrictEqual(rows, [[42]])
        }),
      (dir) => Effect.promise(() => Fs.rm(dir, { recursive: true, force: true }))
    ), { timeout: 60_000 })

  it.live("refuses a directory another live process holds, takes over a stale lock", () =>
    Effect.acquireUseRelease(
      Effect.promise(() => Fs.mkdtemp(Path.join(Os.tmpdir(), "pglite-lock-"))),
      (dir) =>
        Effect.gen(function*() {
          const dataDir = Path.join(dir, "db")
          const lockFile = `${dataDir}.lock`
          // pid 1 is always alive
          yield* Effect.promise(() => Fs.writeFile(lockFile, "1"))
          const refused = yield* Effect.flip(Effect.provide(Effect.void, Layer.fresh(PgliteClient.layer({ dataDir }))))
          assert.include(refused.message, "in use by process 1")
          // a dead process's lock is taken over, and released on close
          yield* Effect.promise(() => Fs.writeFile(lockFile, "2147483646"))
          yield* Effect.provide(
            Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT 1`),
            Layer.fresh(PgliteClient.layer({ dataDir }))
          )
          const files = yield* Effect.promise(() => Fs.readdir(dir))
          assert.deepStrictEqual(files, ["db"])
        }),
      (dir) => Effect.promise(() => Fs.rm(dir, { recursive: true, force: true }))
    ), { timeout: 60_000 })
})
