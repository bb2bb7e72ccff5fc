/**
 * Role `admin`: every project with its status projection, a project's journal (paged by seq), the
 * cluster (runners, shard assignment, active entities) and `/metrics` (Prometheus text).
 */
import { AdminProject, ClusterRunner, ClusterView, JournalPage, JournalRecord } from "@devteam/domain/AdminApi"
import { DevTeamApi } from "@devteam/domain/Api"
import { JournalEvent } from "@devteam/domain/JournalEvent"
import { Database } from "@devteam/runtime/Database"
import { Journal } from "@devteam/runtime/Journal"
import { Projections } from "@devteam/runtime/Projections"
import * as EntityId from "@effect/cluster/EntityId"
import { Sharding } from "@effect/cluster/Sharding"
import { HttpApiBuilder } from "@effect/platform"
import { Effect, Schema } from "effect"
import * as Metrics from "../Metrics.js"
import * as Access from "./Access.js"

const ENTITY_GROUP = "default"

export const layer = HttpApiBuilder.group(DevTeamApi, "admin", (handlers) =>
  Effect.gen(function*() {
    const database = yield* Database
    const sharding = yield* Sharding
    const journal = yield* Journal
    const projections = yield* Projections

    const localRunner = "in-process"

    const runners = database.kind === "postgres"
      ? Effect.map(projections.clusterRunners, (rows) => rows.map((r) => new ClusterRunner(r)))
      : Effect.succeed([new ClusterRunner({ address: localRunner, healthy: true, lastHeartbeat: null })])

    const metrics = Effect.gen(function*() {
      const executions = yield* projections.executionCounts
      const stepDurations = yield* projections.stepDurations
      const activeEntities = yield* sharding.activeEntityCount
      return yield* Metrics.exposition({ executions, activeEntities, stepDurations })
    })

    return handlers
      .handle("projects", () =>
        Effect.gen(function*() {
          yield* Access.requireAdmin
          const projects = yield* projections.adminProjects
          return projects.map(({ lastSeq, view: p }) =>
            new AdminProject({
              projectId: p.projectId,
              customerId: p.customerId,
              status: p.status,
              executionId: p.executionId,
              currentTask: p.currentTask,
              progress: p.progress,
              lastSeq,
              lastUpdate: p.lastUpdate
            })
          )
        }))
      .handle("journal", ({ path, urlParams }) =>
        Effect.gen(function*() {
          yield* Access.requireAdmin
          // a deleted project's journal stays readable here
          if ((yield* journal.lastSeq(path.projectId)) === 0) yield* Access.knownProject(path.projectId)
          const limit = urlParams.limit ?? 100
          const entries = yield* journal.read(path.projectId, urlParams.after ?? 0, limit)
          const events = yield* Effect.forEach(entries, (entry) =>
            Schema.encode(JournalEvent)(entry.event).pipe(
              Effect.orDie,
              Effect.map((data) =>
                new JournalRecord({
                  seq: entry.seq,
                  type: entry.event._tag,
                  ts: entry.ts,
                  executionId: entry.executionId,
                  correlationId: entry.correlationId,
                  ...(entry.principal === undefined ? {} : { principal: entry.principal }),
                  data
                })
              )
            ))
          const last = events[events.length - 1]
          return new JournalPage({ events, nextAfter: events.length === limit && last !== undefined ? last.seq : null })
        }))
      .handle("cluster", () =>
        Effect.gen(function*() {
          yield* Access.requireAdmin
          const runnerList = yield* runners
          const active = yield* projections.activeProjects
          const projects = yield* projections.projects
          const local = runnerList.length === 1 && database.kind !== "postgres" ? localRunner : null
          const shardOf = (projectId: string) => sharding.getShardId(EntityId.make(projectId), ENTITY_GROUP)
          const shards = new Map<number, { group: string; shard: number; runner: string | null }>()
          for (const p of projects) {
            const shard = shardOf(p.projectId)
            shards.set(shard.id, {
              group: shard.group,
              shard: shard.id,
              runner: sharding.hasShardId(shard) ? (local ?? "this node") : null
            })
          }
          return new ClusterView({
            mode: database.kind === "postgres"
              ? "postgres (socket runners, shards assigned through cluster_runners and advisory locks)"
              : "embedded (single in-process runner, runner storage in memory)",
            runners: runnerList,
            shards: [...shards.values()].sort((a, b) => a.shard - b.shard),
            activeEntities: active.map((projectId) => {
              const shard = shardOf(projectId)
              return { projectId, runner: sharding.hasShardId(shard) ? (local ?? "this node") : null }
            })
          })
        }))
      .handle("metrics", () => Effect.zipRight(Access.requireAdmin, metrics))
  }))
