/**
 * Cluster topology settings. The cluster's own env names (HOST, PORT) are too generic to share a
 * process environment with, so the runner reads its own names and passes them explicitly, with
 * failover tuned for ≤ 15 s after a runner dies (lock expiry 6 s, refresh 2 s, assignments 1 s).
 */
import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import type { ShardingConfig } from "@effect/cluster/ShardingConfig"
import { Config, Duration, Option } from "effect"

export const ClusterConfig = Config.all({
  runnerHost: Config.string("RUNNER_HOST").pipe(
    Config.withDefault("127.0.0.1"),
    Config.withDescription("address other runners reach this runner on")
  ),
  runnerPort: Config.port("RUNNER_PORT").pipe(Config.withDefault(34431)),
  runnerListenHost: Config.option(Config.string("RUNNER_LISTEN_HOST")),
  shardsPerGroup: Config.integer("SHARDS_PER_GROUP").pipe(Config.withDefault(300)),
  shardLockExpiration: Config.duration("SHARD_LOCK_EXPIRATION").pipe(Config.withDefault(Duration.seconds(6))),
  shardLockRefreshInterval: Config.duration("SHARD_LOCK_REFRESH_INTERVAL").pipe(
    Config.withDefault(Duration.seconds(2))
  ),
  refreshAssignmentsInterval: Config.duration("REFRESH_ASSIGNMENTS_INTERVAL").pipe(
    Config.withDefault(Duration.seconds(1))
  ),
  entityMaxIdleTime: Config.duration("ENTITY_MAX_IDLE_TIME").pipe(Config.withDefault(Duration.minutes(1)))
})
export type ClusterConfig = Config.Config.Success<typeof ClusterConfig>

/** The ShardingConfig overrides for this runner (or client). */
export const shardingConfig = (config: ClusterConfig): Partial<ShardingConfig["Type"]> => ({
  runnerAddress: Option.some(RunnerAddress.make(config.runnerHost, config.runnerPort)),
  runnerListenAddress: Option.map(
    config.runnerListenHost,
    (host) => RunnerAddress.make(host, config.runnerPort)
  ),
  shardsPerGroup: config.shardsPerGroup,
  shardLockExpiration: config.shardLockExpiration,
  shardLockRefreshInterval: config.shardLockRefreshInterval,
  refreshAssignmentsInterval: config.refreshAssignmentsInterval,
  entityMaxIdleTime: config.entityMaxIdleTime,
  // a message to an entity of this process is handed over as is: the cluster's default encodes and
  // decodes it (and its reply) as if it went to another runner — a development check that cost
  // every command of the all-in-one process two Schema round trips. Remote messages still are.
  simulateRemoteSerialization: false
})
