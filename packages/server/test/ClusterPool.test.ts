/**
 * The cluster's storage has a pool of its own: with every connection of the service's pool busy
 * (journal work under load), the runner's shard-lock connection is lost and re-reserved, and the
 * shard locks stay healthy. On the shared pool the re-reserve queued behind the busy connections,
 * the refresh missed its interval and the cluster logged "Shard lock storage is unhealthy",
 * released every shard and interrupted every running entity.
 */
import * as Cluster from "@devteam/runner/Cluster"
import * as Database from "@devteam/runtime/Database"
import { SqlClient } from "@effect/sql"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Logger, Redacted } from "effect"
import * as FreshDatabase from "./fixtures/FreshDatabase.js"
import * as Ports from "./fixtures/Ports.js"

const database = FreshDatabase.make("devteam_clusterpool")
const [runnerPort = 0] = await Ports.reserve(1)

/** The cluster's advisory locks in this database: which backends hold them, and how many. */
const advisoryHolders = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql<{ pid: number; locks: number }>`
    SELECT l.pid, count(*)::int AS locks FROM pg_locks l JOIN pg_database d ON d.oid = l.database
    WHERE l.locktype = 'advisory' AND l.granted AND d.datname = ${database.name}
    GROUP BY l.pid`)

describe("cluster storage pool (real Postgres)", () => {
  it.live(
    "main pool saturated and the shard-lock connection lost: the locks stay healthy, no shard released",
    () =>
      Effect.gen(function*() {
        const logs: Array<string> = []
        const collect = Logger.make(({ message }) => {
          logs.push(Array.isArray(message) ? message.map(String).join(" ") : String(message))
        })
        const main = Database.layerPostgres(Redacted.make(database.url), { maxConnections: 4 })
        const config = ConfigProvider.fromMap(
          new Map([
            ["DATABASE_URL", database.url],
            ["RUNNER_PORT", String(runnerPort)],
            ["CLUSTER_DATABASE_MAX_CONNECTIONS", "3"]
          ])
        )
        const cluster = Cluster.layer("runner", false).pipe(
          Layer.provide(Logger.add(collect)),
          Layer.provide(Layer.setConfigProvider(config))
        )
        yield* Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          yield* Layer.buildWithScope(cluster, yield* Effect.scope)

          // the runner takes its shards (all 300: it is alone)
          let held = 0
          for (let i = 0; i < 60 && held < 300; i++) {
            yield* Effect.sleep("500 millis")
            held = (yield* advisoryHolders).reduce((n, row) => n + row.locks, 0)
          }
          assert.strictEqual(held, 300, "the runner holds every shard lock")
          const [lockHolder] = yield* advisoryHolders

          // every connection of the main pool busy for longer than 2 refresh intervals + expiry (a
          // query that waits for a connection fails after the pool's connect timeout: no matter)
          yield* Effect.forkScoped(Effect.forEach(
            [1, 2, 3, 4],
            () => Effect.ignore(sql`SELECT pg_sleep(10)`),
            { concurrency: "unbounded", discard: true }
          ))
          yield* Effect.sleep("1 second")
          // the lock connection dies: the storage must reserve a new one within the refresh interval
          yield* Effect.provide(
            Effect.flatMap(SqlClient.SqlClient, (admin) => admin`SELECT pg_terminate_backend(${lockHolder?.pid ?? 0})`),
            Database.layerPostgres(Redacted.make(FreshDatabase.ADMIN_URL), { maxConnections: 1 })
          )
          yield* Effect.sleep("8 seconds")

          assert.deepStrictEqual(logs.filter((line) => line.includes("unhealthy")), [])
          const after = yield* Effect.provide(
            advisoryHolders,
            Database.layerPostgres(Redacted.make(FreshDatabase.ADMIN_URL), { maxConnections: 1 })
          )
          assert.strictEqual(after.reduce((n, row) => n + row.locks, 0), 300, "every shard lock taken again")
        }).pipe(Effect.scoped, Effect.provide(main))

        // the cluster's pool is closed with its scope: none of its connections is left open
        const left = yield* Effect.provide(
          Effect.flatMap(SqlClient.SqlClient, (admin) =>
            admin<{ n: number }>`
              SELECT count(*)::int AS n FROM pg_stat_activity
              WHERE datname = ${database.name} AND application_name = 'devteam-cluster'`),
          Database.layerPostgres(Redacted.make(FreshDatabase.ADMIN_URL), { maxConnections: 1 })
        )
        assert.strictEqual(left[0]?.n, 0)
      }).pipe(Effect.provide(Layer.orDie(database.layer))),
    60_000
  )
})
