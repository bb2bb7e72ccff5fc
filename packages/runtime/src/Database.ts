/**
 * The database: `DATABASE_URL` set → that Postgres through `@effect/sql-pg`; unset → an embedded
 * Postgres (PGlite, in-process) under `$DATA_DIR/pglite`, so a fresh `npm start` needs no server.
 * Both provide the same `SqlClient`; every module runs the same SQL and migrations on either.
 * `Database` tells which one is in use (embedded mode is one process only: see architecture.md).
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Config, type ConfigError, Context, Effect, Layer, Option, Redacted } from "effect"
import * as Path from "node:path"
import * as PgliteClient from "./PgliteClient.js"

export type DatabaseKind = "postgres" | "pglite"

export class Database extends Context.Tag("@devteam/runtime/Database")<Database, {
  readonly kind: DatabaseKind
  /** Where the data lives, without credentials: `postgres://host:port/db` or the PGlite directory. */
  readonly location: string
}>() {}

/**
 * `DATABASE_URL` (secret; empty = unset), `DATA_DIR` (default `./.data`), `DATABASE_MAX_CONNECTIONS` (20),
 * `CLUSTER_DATABASE_MAX_CONNECTIONS` (4).
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
  )
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

/**
 * A connection pool to the Postgres at `url`, closed with the layer's scope. `applicationName`
 * tells the pools apart in `pg_stat_activity`.
 */
export const layerPostgresPool = (
  url: Redacted.Redacted,
  options: { readonly maxConnections: number; readonly applicationName: string }
): Layer.Layer<SqlClient.SqlClient, SqlError> =>
  PgClient.layer({
    url,
    maxConnections: options.maxConnections,
    // fail fast (no hang) when Postgres is down or restarting: callers answer 503 and retry
    connectTimeout: "5 seconds",
    applicationName: options.applicationName
  })

/** Postgres at `url`. */
export const layerPostgres = (
  url: Redacted.Redacted,
  options?: { readonly maxConnections?: number | undefined }
): Layer.Layer<SqlClient.SqlClient | Database, SqlError> =>
  Layer.merge(
    layerPostgresPool(url, {
      maxConnections: options?.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
      applicationName: "devteam-runner"
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
    onSome: (url) => layerPostgres(url, { maxConnections: config.maxConnections }),
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
