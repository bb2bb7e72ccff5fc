/**
 * Actor footprint: RSS growth per activated idle `Project` entity, with 10,000 entities hosted by
 * the real sharding layer (single runner). Also the activation rate.
 *
 * Right after the activations the RSS still holds the heap pages their garbage grew (V8 keeps them
 * committed until the process has been idle a while, then gives them back): `rssGrowthKiBPerEntity`
 * is that transient figure, `idleRssGrowthKiBPerEntity` the one of the entities sitting idle: the
 * RSS after a minute with nothing to do (it settles within ~40 s; where it settles varies by run,
 * with how the freed pages lie).
 *
 * Measured on Postgres (a fresh database, `BENCH_POSTGRES_ADMIN_URL`) and on the embedded PGlite:
 * PGlite runs in this process, so its own memory (WASM, grown by the 20,000 queries of the
 * activations and never given back) is part of the second RSS figure, not the entities'.
 */
import * as Cluster from "@devteam/runner/Cluster"
import * as ExecutionQueue from "@devteam/runner/ExecutionQueue"
import * as PlaceholderStepRunner from "@devteam/runner/PlaceholderStepRunner"
import * as ProjectActor from "@devteam/runner/ProjectActor"
import { Project } from "@devteam/runner/ProjectEntity"
import * as Database from "@devteam/runtime/Database"
import { EventBus } from "@devteam/runtime/EventBus"
import * as Storage from "@devteam/runtime/Storage"
import { Entity, SingleRunner } from "@effect/cluster"
import { Rpc } from "@effect/rpc"
import type { SqlClient } from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect, Layer, Redacted, Schema } from "effect"
import { freshDatabase } from "./inProcessService.js"

const ENTITIES = 10_000
const IDLE_SECONDS = 60

const gc = () => {
  const collect: unknown = Reflect.get(globalThis, "gc")
  if (typeof collect === "function") collect()
}

/** The RSS after a minute with nothing to do (V8 gives back the pages it no longer needs by then). */
const idleRss = Effect.gen(function*() {
  yield* Effect.sleep(`${IDLE_SECONDS} seconds`)
  gc()
  return process.memoryUsage().rss
})

const perEntityKiB = (bytes: number) => Math.round((bytes / ENTITIES / 1024) * 100) / 100

const runnerLayer = SingleRunner.layer({ runnerStorage: "memory", shardingConfig: { entityMaxIdleTime: "1 hour" } })

/** The cluster's own floor: a trivial one-RPC entity, measured the same way. */
const Trivial = Entity.make("Trivial", [Rpc.make("Ping", { success: Schema.Number })])

const baseline = Effect.gen(function*() {
  const client = yield* Trivial.client
  yield* Effect.forEach(Array.from({ length: 200 }, (_, i) => `warm-${i}`), (id) => client(id).Ping(), {
    concurrency: 50,
    discard: true
  })
  gc()
  const before = process.memoryUsage()
  yield* Effect.forEach(Array.from({ length: ENTITIES }, (_, i) => `e-${i}`), (id) => client(id).Ping(), {
    concurrency: 100,
    discard: true
  })
  gc()
  const after = process.memoryUsage()
  const idle = yield* idleRss
  return {
    rssKiBPerEntity: perEntityKiB(after.rss - before.rss),
    idleRssKiBPerEntity: perEntityKiB(idle - before.rss),
    heapKiBPerEntity: perEntityKiB(after.heapUsed - before.heapUsed)
  }
}).pipe(
  Effect.provide(
    Trivial.toLayer(Effect.succeed({ Ping: () => Effect.succeed(1) }), { maxIdleTime: "1 hour" }).pipe(
      Layer.provideMerge(runnerLayer),
      Layer.provide(Database.layerPglite(undefined))
    )
  ),
  Effect.scoped
)

export const run = async () => ({
  postgres: await Effect.runPromise(
    Effect.scoped(
      Effect.flatMap(freshDatabase("actor_bench"), (url) => project(Database.layerPostgres(Redacted.make(url))))
    )
  ),
  pglite: await Effect.runPromise(project(Database.layerPglite(undefined))),
  clusterBaselineTrivialEntity: await Effect.runPromise(baseline)
})

const project = (database: Layer.Layer<Database.Database | SqlClient, SqlError>) =>
  Effect.gen(function*() {
    const client = yield* Project.client
    // Warm up (first activation builds shared structures), then measure.
    yield* Effect.forEach(Array.from({ length: 200 }, (_, i) => `bench/warm-${i}`), (id) =>
      client(id).GetState({ correlationId: "bench" }), { concurrency: 50, discard: true })
    gc()
    const before = process.memoryUsage()
    const started = performance.now()
    yield* Effect.forEach(
      Array.from({ length: ENTITIES }, (_, i) =>
        `bench/entity-${i}`),
      (id) =>
        client(id).GetState({ correlationId: "bench" }),
      { concurrency: 100, discard: true }
    )
    const activationMs = performance.now() - started
    gc()
    const after = process.memoryUsage()
    const idle = yield* idleRss
    return {
      entities: ENTITIES,
      gcExposed: typeof Reflect.get(globalThis, "gc") === "function",
      rssGrowthKiBPerEntity: perEntityKiB(after.rss - before.rss),
      idleRssGrowthKiBPerEntity: perEntityKiB(idle - before.rss),
      heapGrowthKiBPerEntity: perEntityKiB(after.heapUsed - before.heapUsed),
      activationsPerSecond: Math.round(ENTITIES / (activationMs / 1000)),
      targetKiB: 20
    }
  }).pipe(
    Effect.provide(
      ProjectActor.layer({ maxIdleTime: "1 hour" }).pipe(
        Layer.provide([
          PlaceholderStepRunner.layer({ tasks: 1, stepDuration: "1 millis" }),
          ExecutionQueue.layer(5),
          PlaceholderStepRunner.unusedParts
        ]),
        // composed as the service's cluster layer (Cluster.layer) does
        Layer.provideMerge(Cluster.fromSqlClientOnly(
          SingleRunner.layer({ runnerStorage: "memory", shardingConfig: { entityMaxIdleTime: "1 hour" } })
        )),
        Layer.provideMerge(Storage.layerWith(database, EventBus.layerMemory))
      )
    ),
    Effect.scoped
  )
