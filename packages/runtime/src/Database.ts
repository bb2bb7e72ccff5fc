/**
 * The database: `DATABASE_URL` set → that Postgres through `@effect/sql-pg`; unset → an embedded
 * Postgres (PGlite, in-process) under `$DATA_DIR/pglite`, so a fresh `npm start` needs no server.
 * Both provide the same `SqlClient`; every module runs the same SQL and migrations on either.
 * `Database` tells which one is in use (embedded mode is one process only: see architecture.md).
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import { Config, type ConfigError, Context, Effect, Layer, Option, Redacted } from "effect"
import * as Path from "node:path"
import * as Pg from "pg"
import * as PreparedStatements from "./internal/preparedStatements.js"
import * as PgliteClient from "./PgliteClient.js"

export type DatabaseKind = "postgres" | "pglite"

export class Database extends Context.Tag("@devteam/runtime/Database")<Database, {
  readonly kind: DatabaseKind
  /** Where the data lives, without credentials: `postgres://host:port/db` or the PGlite directory. */
  readonly location: string
}>() {}

/**
 * `DATABASE_URL` (secret; empty = unset), `DATA_DIR` (default `./.data`), `DATABASE_MAX_CONNECTIONS` (20),
 * `CLUSTER_DATABASE_MAX_CONNECTIONS` (4), `DATABASE_PREPARED_STATEMENTS` (true).
 *
 * Main pool size: group commit holds up to three connections, the WebSocket feeds' polls some more,
 * and reads must not queue behind them under load.
 */
export const DEFAULT_MAX_CONNECTIONS = 20

/**
 * The cluster's own pool (Postgres only): its shard-lock connection is reserved for the process's
 * life and is re-reserved after any error; from a pool shared with the journal that re-reserve
 * queued behind group commit and feeds, the lock refresh missed its interval and every shard was
 * released. At least 3: the lock connection, the table-creation lock at start-up, one for queries.
 */
export const DEFAULT_CLUSTER_MAX_CONNECTIONS = 4

export const DatabaseConfig = Config.all({
  url: Config.option(Config.redacted("DATABASE_URL")).pipe(
    Config.map(Option.filter((url) => Redacted.value(url).trim().length > 0))
  ),
  dataDir: Config.string("DATA_DIR").pipe(Config.withDefault("./.data")),
  maxConnections: Config.integer("DATABASE_MAX_CONNECTIONS").pipe(
    Config.validate({
      message: "DATABASE_MAX_CONNECTIONS must be between 1 and 1000",
      validation: (n) => n >= 1 && n <= 1000
    }),
    Config.withDefault(DEFAULT_MAX_CONNECTIONS)
  ),
  clusterMaxConnections: Config.integer("CLUSTER_DATABASE_MAX_CONNECTIONS").pipe(
    Config.validate({
      message: "CLUSTER_DATABASE_MAX_CONNECTIONS must be between 3 and 100",
      validation: (n) => n >= 3 && n <= 100
    }),
    Config.withDefault(DEFAULT_CLUSTER_MAX_CONNECTIONS)
  ),
  // off behind a pooler in transaction mode (see internal/preparedStatements)
  preparedStatements: Config.boolean("DATABASE_PREPARED_STATEMENTS").pipe(Config.withDefault(true))
})
export type DatabaseConfig = Config.Config.Success<typeof DatabaseConfig>

const describeUrl = (url: Redacted.Redacted): string => {
  try {
    const parsed = new URL(Redacted.value(url))
    return `${parsed.protocol}//${parsed.hostname}${parsed.port === "" ? "" : `:${parsed.port}`}${parsed.pathname}`
  } catch {
    return "postgres"
  }
}

const CONNECT_TIMEOUT_MILLIS = 5_000

/**
 * A connection pool to the Postgres at `url`, closed with the layer's scope. `applicationName`
 * tells the pools apart in `pg_stat_activity`; `preparedStatements` names the statements it sends
 * often, so Postgres plans them once per connection (`internal/preparedStatements`).
 *
 * The pool is made here rather than by `PgClient.layer` only to reach its connections; its
 * settings are the ones `PgClient.layer` would give it.
 */
export const layerPostgresPool = (
  url: Redacted.Redacted,
  options: {
    readonly maxConnections: number
    readonly applicationName: string
    readonly preparedStatements: boolean
  }
): Layer.Layer<SqlClient.SqlClient, SqlError> =>
  PgClient.layerFromPool({
    applicationName: options.applicationName,
    acquire: Effect.gen(function*() {
      const pool = yield* Effect.acquireRelease(
        Effect.sync(() => {
          const pool = new Pg.Pool({
            connectionString: Redacted.value(url),
            max: options.maxConnections,
            // fail fast (no hang) when Postgres is down or restarting: callers answer 503 and retry
            connectionTimeoutMillis: CONNECT_TIMEOUT_MILLIS,
            application_name: options.applicationName
          })
          // an idle connection's error (Postgres restarted): the pool drops it, the next query reconnects
          pool.on("error", () => undefined)
          if (options.preparedStatements) {
            const names = PreparedStatements.makeStatementNames(PreparedStatements.defaults)
            pool.on("connect", (client) => PreparedStatements.nameStatements(client, names))
          }
          return pool
        }),
        (pool) => Effect.promise(() => pool.end()).pipe(Effect.interruptible, Effect.timeoutOption(1000))
      )
      yield* Effect.tryPromise({
        try: () => pool.query("SELECT 1"),
        catch: (cause) => new SqlError({ cause, message: "PgClient: Failed to connect" })
      }).pipe(
        Effect.timeoutFail({
          duration: CONNECT_TIMEOUT_MILLIS,
          onTimeout: () =>
            new SqlError({ cause: new Error("Connection timed out"), message: "PgClient: Connection timed out" })
        })
      )
      return pool
    })
  })

/** Postgres at `url`. */
export const layerPostgres = (
  url: Redacted.Redacted,
  options?: { readonly maxConnections?: number | undefined; readonly preparedStatements?: boolean | undefined }
): Layer.Layer<SqlClient.SqlClient | Database, SqlError> =>
  Layer.merge(
    layerPostgresPool(url, {
      maxConnections: options?.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
      applicationName: "devteam-runner",
      preparedStatements: options?.preparedStatements ?? true
    }),
    Layer.succeed(Database, { kind: "postgres", location: describeUrl(url) })
  )

/** Embedded PGlite in `dataDir` (created when missing), or in memory when `dataDir` is undefined. */
export const layerPglite = (dataDir: string | undefined): Layer.Layer<SqlClient.SqlClient | Database, SqlError> =>
  Layer.merge(
    PgliteClient.layer({ dataDir }),
    Layer.succeed(Database, { kind: "pglite", location: dataDir ?? "memory" })
  )

/** The database the configuration asks for (see `DatabaseConfig`). */
export const layerFromConfig = (
  config: DatabaseConfig
): Layer.Layer<SqlClient.SqlClient | Database, SqlError> =>
  Option.match(config.url, {
    onSome: (url) =>
      layerPostgres(url, { maxConnections: config.maxConnections, preparedStatements: config.preparedStatements }),
    onNone: () => layerPglite(Path.resolve(config.dataDir, "pglite"))
  })

/** `DATABASE_URL` set → Postgres; unset → PGlite under `$DATA_DIR/pglite`. */
export const layer: Layer.Layer<SqlClient.SqlClient | Database, SqlError | ConfigError.ConfigError> = Layer
  .unwrapEffect(
    Effect.map(DatabaseConfig, (config) =>
      layerFromConfig(config).pipe(
        Layer.tap(() =>
          Effect.logInfo(
            Option.isSome(config.url)
              ? "database: Postgres (DATABASE_URL)"
              : `database: embedded PGlite in ${
                Path.resolve(config.dataDir, "pglite")
              } (single process; set DATABASE_URL for Postgres)`
          )
        )
      ))
  )
