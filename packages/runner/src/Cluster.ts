/**
 * The cluster layer for each topology:
 *
 * - embedded (no DATABASE_URL): one process, `SingleRunner` with the cluster's message storage on
 *   the embedded database and its runner storage in memory (PGlite is a single session, see
 *   effect-notes.md). Only ROLE=all may run embedded.
 * - ROLE=all or runner with DATABASE_URL: a socket runner; shards spread across runners through the
 *   cluster's tables and advisory locks in the same Postgres as the journal.
 * - ROLE=gateway: a cluster client only (sends to entities, hosts none).
 */
import { SingleRunner } from "@effect/cluster"
import type { MessageStorage } from "@effect/cluster/MessageStorage"
import type { Runners } from "@effect/cluster/Runners"
import type { Sharding } from "@effect/cluster/Sharding"
import { NodeClusterSocket } from "@effect/platform-node"
import type { SocketServerError } from "@effect/platform/SocketServer"
import type { SqlClient } from "@effect/sql/SqlClient"
import { ConfigError, Effect, Layer, Option } from "effect"
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

export const layer = (
  role: Role,
  embedded: boolean
): Layer.Layer<ClusterServices, ConfigError.ConfigError | SocketServerError, SqlClient> =>
  Layer.unwrapEffect(
    Effect.gen(function*() {
      const config = yield* ClusterConfig
      const sharding = shardingConfig(config)
      if (embedded) {
        if (role !== "all") {
          return yield* Effect.fail(
            ConfigError.InvalidData(["ROLE"], `ROLE=${role} needs DATABASE_URL (embedded mode is single-process)`)
          )
        }
        return SingleRunner.layer({ runnerStorage: "memory", shardingConfig: sharding })
      }
      return role === "gateway"
        ? NodeClusterSocket.layer({ clientOnly: true, storage: "sql", shardingConfig: sharding })
        : NodeClusterSocket.layer({ storage: "sql", shardingConfig: sharding })
    })
  )
