/**
 * The cluster layer for each topology:
 *
 * - embedded (no DATABASE_URL): one process, `SingleRunner` with the cluster's message storage on
 *   the embedded database and its runner storage in memory (PGlite is a single session, see
 *   effect-notes.md). Only ROLE=all may run embedded.
 * - ROLE=all or runner with DATABASE_URL: a socket runner; shards spread across runners through the
 *   cluster's tables and advisory locks in the same Postgres as the journal, through a pool of its
 *   own (CLUSTER_DATABASE_MAX_CONNECTIONS): shard-lock refreshes must not wait for journal work,
 *   or a missed refresh releases every shard and interrupts every running entity.
 * - ROLE=gateway: a cluster client only (sends to entities, hosts none), on its own pool too.
 *
 * Embedded, the cluster shares the one PGlite connection: there is no second one to give it.
 */
import * as Database from "@devteam/runtime/Database"
import { SingleRunner } from "@effect/cluster"
import type { MessageStorage } from "@effect/cluster/MessageStorage"
import type { Runners } from "@effect/cluster/Runners"
import type { Sharding } from "@effect/cluster/Sharding"
import { NodeClusterSocket } from "@effect/platform-node"
import type { SocketServerError } from "@effect/platform/SocketServer"
import { SqlClient } from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { ConfigError, Context, Effect, Layer, Option } from "effect"
import { ClusterConfig, shardingConfig } from "./ClusterConfig.js"

export type Role = "all" | "gateway" | "runner"

export type ClusterServices = Sharding | Runners | MessageStorage

/** Refuses multi-process roles on the embedded database, with the fix in the message. */
export const checkTopology = (role: Role, databaseUrl: Option.Option<unknown>) =>
  role !== "all" && Option.isNone(databaseUrl)
    ? Effect.fail(
      ConfigError.InvalidData(
        ["ROLE"],
        `ROLE=${role} needs DATABASE_URL: the embedded database (PGlite) serves a single process only. ` +
          "Set DATABASE_URL to a Postgres shared by every process, or run ROLE=all."
      )
    )
    : Effect.void

/** An arbitrary fixed key: "devteam cluster tables". */
const CLUSTER_TABLES_LOCK_KEY = 4_242_017_002

/**
 * Builds `inner` (the cluster's SQL storage creates its tables as it starts) while holding a
 * Postgres advisory lock, so that processes starting together on a fresh database do not race to
 * create the same tables (`duplicate key … pg_type_typname_nsp_index`). The lock is released as
 * soon as the layer is built; the layer itself lives as long as the caller's scope.
 */
const buildSerialized = <A, E, R>(inner: Layer.Layer<A, E, R>) =>
  Layer.scopedContext(
    Effect.gen(function*() {
      const sql = yield* SqlClient
      const outer = yield* Effect.scope
      return yield* Effect.scoped(Effect.gen(function*() {
        const connection = yield* Effect.orDie(sql.reserve)
        yield* Effect.acquireRelease(
          Effect.orDie(connection.executeRaw("SELECT pg_advisory_lock($1)", [CLUSTER_TABLES_LOCK_KEY])),
          () => Effect.ignore(connection.executeRaw("SELECT pg_advisory_unlock($1)", [CLUSTER_TABLES_LOCK_KEY]))
        )
        return yield* Layer.buildWithScope(inner, outer)
      }))
    })
  )

/**
 * `layer` built in `context` alone, not in the context of the layers beside it. The cluster keeps
 * the context it was built in (and an entity's registration) and copies it into every entity it
 * activates (three context maps each): built beside the service's storage and pipeline services,
 * every idle project entity held all of them (1.3 KiB each in the actor benchmark; more in the
 * service).
 */
export const builtIn = <A, E, R>(layer: Layer.Layer<A, E, R>, context: Context.Context<R>): Layer.Layer<A, E> =>
  Layer.scopedContext(
    Effect.flatMap(
      Effect.scope,
      // the build's whole context, not merged into the caller's
      (scope) => Effect.mapInputContext(Layer.buildWithScope(layer, scope), (_: Context.Context<never>) => context)
    )
  )

/** `layer` built from the SqlClient alone (`builtIn`). */
export const fromSqlClientOnly = <A, E>(layer: Layer.Layer<A, E, SqlClient>): Layer.Layer<A, E, SqlClient> =>
  Layer.unwrapEffect(Effect.map(SqlClient, (sql) => builtIn(layer, Context.make(SqlClient, sql))))

export const layer = (
  role: Role,
  embedded: boolean
): Layer.Layer<ClusterServices, ConfigError.ConfigError | SocketServerError | SqlError, SqlClient> =>
  Layer.unwrapEffect(
    Effect.gen(function*() {
      const config = yield* ClusterConfig
      const database = yield* Database.DatabaseConfig
      const sharding = shardingConfig(config)
      if (embedded) {
        if (role !== "all") {
          return yield* Effect.fail(
            ConfigError.InvalidData(["ROLE"], `ROLE=${role} needs DATABASE_URL (embedded mode is single-process)`)
          )
        }
        return fromSqlClientOnly(SingleRunner.layer({ runnerStorage: "memory", shardingConfig: sharding }))
      }
      // the caller's SqlClient only when it gave no DATABASE_URL (a harness's own Postgres)
      const pool = Option.match(database.url, {
        onNone: () => Layer.service(SqlClient),
        onSome: (url) =>
          Database.layerPostgresPool(url, {
            maxConnections: database.clusterMaxConnections,
            applicationName: "devteam-cluster",
            // its storage reads `SELECT *`: after a cluster upgrade adds a column, Postgres refuses the
            // prepared plans, and inside a transaction the unnamed retry cannot save the statement
            preparedStatements: false
          })
      })
      return fromSqlClientOnly(buildSerialized(
        role === "gateway"
          ? NodeClusterSocket.layer({ clientOnly: true, storage: "sql", shardingConfig: sharding })
          : NodeClusterSocket.layer({ storage: "sql", shardingConfig: sharding })
      )).pipe(Layer.provide(pool))
    })
  )
