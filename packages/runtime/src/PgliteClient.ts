/**
 * An `@effect/sql` client (Effect 3) for PGlite, the in-process WASM Postgres used when no
 * `DATABASE_URL` is set.
 *
 * PGlite is one Postgres session. Every statement and every transaction therefore takes the one
 * permit of a 1-permit mutex (FIFO, so waiters are served in arrival order and none starves): a plain statement holds it while it runs, a transaction (`withTransaction`)
 * holds it from `BEGIN` to `COMMIT`/`ROLLBACK`, so no other fiber's statement can land inside
 * someone else's transaction. Nested `withTransaction` calls become savepoints on the same
 * connection. Statements compile with `@effect/sql-pg`'s compiler, so the SQL is the same as on
 * Postgres, and values are parsed as `pg` parses them (`int8` as a string, `timestamptz` as a `Date`,
 * `jsonb` parsed). Driver errors become `SqlError`s whose `cause` keeps the Postgres error (its
 * `code`, e.g. `23505`).
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import type { Connection } from "@effect/sql/SqlConnection"
import { SqlError } from "@effect/sql/SqlError"
import { PGlite, type Results } from "@electric-sql/pglite"
import { Chunk, Context, Effect, Layer, type Scope, Stream } from "effect"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import * as FifoMutex from "./internal/fifoMutex.js"

/** pg's `int8` OID: PGlite parses it as a number, pg as a string; we follow pg. */
const INT8_OID = 20

export interface PgliteClientConfig {
  /** Directory of the durable database; `undefined` → in memory (tests). */
  readonly dataDir?: string | undefined
  /** Skip the filesystem sync after each statement (faster, loses the last writes on a crash). */
  readonly relaxedDurability?: boolean | undefined
  readonly spanAttributes?: Record<string, unknown> | undefined
}

export interface PgliteSqlClient extends SqlClient.SqlClient {
  readonly config: PgliteClientConfig
  /** The underlying PGlite instance (do not run statements on it directly: they bypass the semaphore). */
  readonly pglite: PGlite
}

export class PgliteClient extends Context.Tag("@devteam/runtime/PgliteClient")<PgliteClient, PgliteSqlClient>() {}

type Row = Record<string, unknown>

const rowsOf = (results: ReadonlyArray<Results<Row>>): ReadonlyArray<unknown> => {
  if (results.length === 0) return []
  if (results.length === 1) return results[0]?.rows ?? []
  // Several statements (simple protocol): one array of rows per statement, as `pg` does.
  return results.map((r) => r.rows)
}

const toSqlError = (cause: unknown) => new SqlError({ cause, message: "Failed to execute statement" })

/**
 * Opens PGlite (creating `dataDir` when needed) for the lifetime of the scope; closing waits for
 * the statement or transaction in flight.
 */
export const make = (
  config: PgliteClientConfig
): Effect.Effect<PgliteSqlClient, SqlError, Reactivity.Reactivity | Scope.Scope> =>
  Effect.gen(function*() {
    // the permit: a mutex whose waiters are served in arrival order
    const permit = yield* FifoMutex.make
    if (config.dataDir !== undefined) yield* lockDataDir(config.dataDir)
    const db = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          if (config.dataDir !== undefined) await Fs.mkdir(config.dataDir, { recursive: true })
          return await PGlite.create({
            ...(config.dataDir === undefined ? {} : { dataDir: config.dataDir }),
            ...(config.relaxedDurability === undefined ? {} : { relaxedDurability: config.relaxedDurability }),
            parsers: { [INT8_OID]: (value: string) => value }
          })
        },
        catch: (cause) => new SqlError({ cause, message: "PgliteClient: failed to open the embedded database" })
      }),
      (db) =>
        permit.withLock(
          Effect.promise(() => db.close().catch(() => undefined))
        )
    )

    // Each call runs to completion even when the fiber is interrupted: PGlite cannot cancel a
    // statement, and the permit must not be handed on while it still runs.
    const run = <A>(f: () => Promise<A>): Effect.Effect<A, SqlError> =>
      Effect.uninterruptible(Effect.tryPromise({ try: f, catch: toSqlError }))

    const execute = (sql: string, params: ReadonlyArray<unknown>) =>
      params.length === 0
        // Simple protocol (several statements allowed), as `pg` does for a query without values.
        ? Effect.map(run(() => db.exec(sql)), (results) => rowsOf(results))
        : Effect.map(run(() => db.query<Row>(sql, [...params])), (result) => result.rows)

    const connection: Connection = {
      execute: (sql, params, transformRows) =>
        transformRows === undefined
          ? execute(sql, params)
          : Effect.map(execute(sql, params), (rows) => transformRows(rows.filter(isRow))),
      executeRaw: (sql, params) => run(() => db.query<Row>(sql, [...params])),
      executeValues: (sql, params) =>
        Effect.map(
          run(() => db.query<ReadonlyArray<unknown>>(sql, [...params], { rowMode: "array" })),
          (result) => result.rows
        ),
      executeUnprepared: (sql, params, transformRows) =>
        transformRows === undefined
          ? execute(sql, params)
          : Effect.map(execute(sql, params), (rows) => transformRows(rows.filter(isRow))),
      // PGlite has no cursors through its API: the rows arrive at once and are emitted as one chunk.
      executeStream: (sql, params, transformRows) =>
        Stream.flattenChunks(
          Stream.fromEffect(
            Effect.map(
              run(() => db.query<Row>(sql, [...params])),
              (result) => Chunk.fromIterable(transformRows === undefined ? result.rows : transformRows(result.rows))
            )
          )
        )
    }

    // The one permit, held until the scope of the statement (or of the transaction) closes.
    const acquirer: Effect.Effect<Connection, never, Scope.Scope> = Effect.uninterruptibleMask((
      restore
    ) =>
      restore(permit.acquire).pipe(
        Effect.zipRight(Effect.addFinalizer(() => permit.release)),
        Effect.as(connection)
      )
    )

    const client = yield* SqlClient.make({
      acquirer,
      compiler: PgClient.makeCompiler(undefined, false),
      spanAttributes: [
        ...(config.spanAttributes === undefined ? [] : Object.entries(config.spanAttributes)),
        ["db.system.name", "postgresql"],
        ["db.namespace", config.dataDir ?? "memory"],
        ["server.address", "pglite"]
      ]
    })
    return Object.assign(client, { config, pglite: db })
  })

const isRow = (value: unknown): value is object => typeof value === "object" && value !== null

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return typeof error === "object" && error !== null && "code" in error && error.code === "EPERM"
  }
}

/**
 * PGlite is one session inside one process: a second process opening the same directory would
 * corrupt it. A pid file `<dataDir>.lock` refuses that (a stale file of a dead process is taken over).
 */
const lockDataDir = (dataDir: string): Effect.Effect<void, SqlError, Scope.Scope> => {
  // beside the directory: PGlite wants the directory itself empty or a PGDATA
  const lockPath = `${Path.resolve(dataDir)}.lock`
  return Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        await Fs.mkdir(Path.dirname(lockPath), { recursive: true })
        try {
          await Fs.writeFile(lockPath, String(process.pid), { flag: "wx" })
        } catch {
          const holder = Number((await Fs.readFile(lockPath, "utf8")).trim())
          if (Number.isInteger(holder) && holder !== process.pid && isAlive(holder)) {
            throw new Error(
              `the embedded database in ${dataDir} is in use by process ${holder}; ` +
                "it serves one process only (set DATABASE_URL to share a Postgres)"
            )
          }
          await Fs.writeFile(lockPath, String(process.pid))
        }
      },
      catch: (cause) =>
        new SqlError({
          cause,
          message: cause instanceof Error ? cause.message : `PgliteClient: cannot lock ${dataDir}`
        })
    }),
    () => Effect.promise(() => Fs.rm(lockPath, { force: true }))
  )
}

/** `SqlClient` and `PgliteClient` from a PGlite opened for the layer's lifetime. */
export const layer = (config: PgliteClientConfig): Layer.Layer<PgliteClient | SqlClient.SqlClient, SqlError> =>
  Layer.scopedContext(
    Effect.map(
      make(config),
      (client) => Context.make(PgliteClient, client).pipe(Context.add(SqlClient.SqlClient, client))
    )
  ).pipe(Layer.provide(Reactivity.layer))
