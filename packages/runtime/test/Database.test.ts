import * as Database from "@devteam/runtime/Database"
import { EventBus } from "@devteam/runtime/EventBus"
import * as EventBusRedis from "@devteam/runtime/EventBusRedis"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Redacted } from "effect"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Pg from "pg"
import * as PreparedStatements from "../src/internal/preparedStatements.js"
import { adminUrl } from "./fixtures/Databases.js"

const withEnv = (env: Record<string, string>) =>
  Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

const probe = Effect.gen(function*() {
  const database = yield* Database.Database
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql`SELECT 41 + 1 AS answer`
  return { kind: database.kind, location: database.location, answer: rows[0]?.["answer"] }
})

describe("Database", () => {
  it.live("without DATABASE_URL: embedded PGlite, durable under $DATA_DIR/pglite", () =>
    Effect.acquireUseRelease(
      Effect.promise(() => Fs.mkdtemp(Path.join(Os.tmpdir(), "devteam-db-test-"))),
      (dir) =>
        Effect.gen(function*() {
          const result = yield* Effect.provide(probe, Database.layer.pipe(Layer.provide(withEnv({ DATA_DIR: dir }))))
          assert.deepStrictEqual(result, { kind: "pglite", location: Path.join(dir, "pglite"), answer: 42 })
          const files = yield* Effect.promise(() => Fs.readdir(Path.join(dir, "pglite")))
          assert.include(files, "PG_VERSION")
        }),
      (dir) => Effect.promise(() => Fs.rm(dir, { recursive: true, force: true }))
    ), { timeout: 60_000 })

  it.live("with DATABASE_URL: Postgres, and the location never shows credentials", () =>
    Effect.gen(function*() {
      // trust auth ignores the password; it must not appear in `location`
      const url = new URL(adminUrl)
      url.password = "s3cret-password"
      const env = { DATABASE_URL: url.toString(), DATA_DIR: "/nonexistent" }
      const result = yield* Effect.provide(probe, Database.layer.pipe(Layer.provide(withEnv(env))))
      assert.strictEqual(result.kind, "postgres")
      assert.strictEqual(result.answer, 42)
      assert.notInclude(result.location, "s3cret")
      assert.strictEqual(result.location, `postgres://${url.hostname}:${url.port}${url.pathname}`)
    }), { timeout: 30_000 })

  it.live("an empty DATABASE_URL counts as unset; REDIS_URL unset → in-process bus", () =>
    Effect.gen(function*() {
      const config = yield* Effect.provide(Database.DatabaseConfig, withEnv({ DATABASE_URL: " " }))
      assert.isTrue(config.url._tag === "None")
      assert.strictEqual(config.dataDir, "./.data")
      assert.strictEqual(config.maxConnections, Database.DEFAULT_MAX_CONNECTIONS)
      const bus = yield* Effect.provide(EventBus, EventBusRedis.layerConfig.pipe(Layer.provide(withEnv({}))))
      assert.strictEqual(bus.kind, "memory")
    }))

  it.effect("CLUSTER_DATABASE_MAX_CONNECTIONS: 4 by default, 3–100, a clear error outside", () =>
    Effect.gen(function*() {
      const byDefault = yield* Effect.provide(Database.DatabaseConfig, withEnv({}))
      assert.strictEqual(byDefault.clusterMaxConnections, 4)
      const set = yield* Effect.provide(Database.DatabaseConfig, withEnv({ CLUSTER_DATABASE_MAX_CONNECTIONS: "3" }))
      assert.strictEqual(set.clusterMaxConnections, 3)
      for (const value of ["2", "101"]) {
        const error = yield* Effect.flip(
          Effect.provide(Database.DatabaseConfig, withEnv({ CLUSTER_DATABASE_MAX_CONNECTIONS: value }))
        )
        assert.include(String(error), "CLUSTER_DATABASE_MAX_CONNECTIONS must be between 3 and 100")
      }
    }))

  describe("prepared statements (Postgres)", () => {
    /** The statements this session prepared (one connection: every query runs in this session). */
    const preparedHere = Effect.flatMap(
      SqlClient.SqlClient,
      (sql) => sql<{ name: string; statement: string }>`SELECT name, statement FROM pg_prepared_statements`
    )
    const onePool = (preparedStatements: boolean) =>
      Database.layerPostgres(Redacted.make(adminUrl), { maxConnections: 1, preparedStatements })

    it.live(
      "a statement sent again is named and planned once; one without parameters never is",
      () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const answer = (n: number) => sql<{ answer: number }>`SELECT ${n}::int + 1 AS answer`
          assert.deepStrictEqual(yield* answer(1), [{ answer: 2 }])
          // seen once: not worth a plan of its own yet
          assert.isFalse((yield* preparedHere).some((p) => p.statement.includes("::int + 1 AS answer")))
          assert.deepStrictEqual(yield* answer(2), [{ answer: 3 }])
          assert.deepStrictEqual(yield* answer(3), [{ answer: 4 }])
          const named = (yield* preparedHere).filter((p) => p.statement.includes("::int + 1 AS answer"))
          assert.strictEqual(named.length, 1)
          assert.match(named[0]?.name ?? "", /^devteam_[0-9a-f]{32}$/)
          // several commands in one text cannot be prepared: sent as they are, every time
          for (let i = 0; i < 3; i++) yield* sql.unsafe("SELECT 1 AS one; SELECT 2 AS two")
          assert.isFalse((yield* preparedHere).some((p) => p.statement.includes("SELECT 2 AS two")))
        }).pipe(Effect.provide(onePool(true))),
      { timeout: 30_000 }
    )

    it.live(
      "a statement whose result changed type under it (another process's migration) still answers",
      () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const table = `prepared_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`
          yield* Effect.addFinalizer(() => Effect.orDie(sql.unsafe(`DROP TABLE IF EXISTS ${table}`)))
          yield* sql.unsafe(`CREATE TABLE ${table} (id int PRIMARY KEY, v int NOT NULL)`)
          yield* sql.unsafe(`INSERT INTO ${table} VALUES (1, 7)`)
          const read = sql<{ v: unknown }>`SELECT v FROM ${sql(table)} WHERE id = ${1}`
          assert.deepStrictEqual(yield* read, [{ v: 7 }])
          assert.deepStrictEqual(yield* read, [{ v: 7 }])
          assert.isTrue((yield* preparedHere).some((p) => p.statement.includes(table)), "prepared")
          // what a migration of another process does: Postgres now refuses the prepared plan
          yield* sql.unsafe(`ALTER TABLE ${table} ALTER COLUMN v TYPE text`)
          assert.deepStrictEqual(yield* read, [{ v: "7" }])
          assert.deepStrictEqual(yield* read, [{ v: "7" }])
        }).pipe(Effect.scoped, Effect.provide(onePool(true))),
      { timeout: 30_000 }
    )

    it.live(
      "DATABASE_PREPARED_STATEMENTS=false: nothing is prepared (a pooler in transaction mode)",
      () =>
        Effect.gen(function*() {
          const config = yield* Effect.provide(Database.DatabaseConfig, withEnv({}))
          assert.isTrue(config.preparedStatements)
          const off = yield* Effect.provide(Database.DatabaseConfig, withEnv({ DATABASE_PREPARED_STATEMENTS: "false" }))
          assert.isFalse(off.preparedStatements)
          const sql = yield* SqlClient.SqlClient
          for (let i = 0; i < 3; i++) yield* sql`SELECT ${i}::int AS unprepared`
          assert.deepStrictEqual(yield* preparedHere, [])
        }).pipe(Effect.provide(onePool(false))),
      { timeout: 30_000 }
    )

    it.live(
      "a connection prepares at most perConnection statements, the process tracks at most maxTexts",
      () =>
        Effect.acquireUseRelease(
          Effect.promise(async () => {
            const pool = new Pg.Pool({ connectionString: adminUrl, max: 1 })
            const names = PreparedStatements.makeStatementNames({ perConnection: 2, maxTexts: 3 })
            pool.on(
              "connect",
              (client) => PreparedStatements.nameStatements(client, names)
            )
            return pool
          }),
          (pool) =>
            Effect.promise(async () => {
              const client = await pool.connect()
              try {
                // the callback form, as @effect/sql-pg sends statements
                const run = (text: string, value: number) =>
                  new Promise<unknown>((resolve, reject) =>
                    client.query(
                      text,
                      [value],
                      (error: Error | null, result: { rows: Array<unknown> }) =>
                        error === null ? resolve(result.rows) : reject(error)
                    )
                  )
                const texts = [1, 2, 3, 4].map((i) => `SELECT $1::int + ${i} AS capped`)
                for (let round = 0; round < 3; round++) {
                  for (const [i, text] of texts.entries()) {
                    assert.deepStrictEqual(await run(text, 10), [{ capped: 11 + i }])
                  }
                }
                const prepared = await client.query("SELECT statement FROM pg_prepared_statements ORDER BY statement")
                // texts 1–3 are tracked (maxTexts 3), the connection prepared the first two (perConnection 2)
                assert.deepStrictEqual(prepared.rows, [{ statement: texts[0] }, { statement: texts[1] }])
              } finally {
                client.release()
              }
            }),
          (pool) => Effect.promise(() => pool.end())
        ),
      { timeout: 30_000 }
    )
  })
})
