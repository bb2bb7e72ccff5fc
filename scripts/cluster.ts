/**
 * `npm run cluster`: the distributed topology as plain processes on this machine — one gateway
 * and two runners against a local Postgres (and Redis) — until Ctrl-C, then a clean stop.
 *
 *   DATABASE_URL   default postgres://postgres@127.0.0.1:5432/devteam_cluster (created when missing)
 *   REDIS_URL      default redis://127.0.0.1:6379 (set it empty to use no Redis)
 *   GATEWAY_PORT   default 8080; RUNNER_PORTS default 34431,34432
 */
import * as Database from "@devteam/runtime/Database"
import * as LocalCluster from "@devteam/server/LocalCluster"
import { NodeRuntime } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { Effect, Redacted } from "effect"
import { join } from "node:path"

const databaseUrl = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/devteam_cluster"
const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379"
const gatewayPort = Number(process.env.GATEWAY_PORT ?? 8080)
const runnerPorts = (process.env.RUNNER_PORTS ?? "34431,34432").split(",").map(Number)

const ensureDatabase = Effect.gen(function*() {
  const url = new URL(databaseUrl)
  const name = url.pathname.slice(1)
  if (!/^[A-Za-z0-9_]+$/.test(name)) return yield* Effect.dieMessage(`unsupported database name ${name}`)
  url.pathname = "/postgres"
  yield* Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_database WHERE datname = ${name}`
    if ((rows[0]?.n ?? 0) === 0) yield* sql.unsafe(`CREATE DATABASE ${name}`)
  }).pipe(Effect.provide(Database.layerPostgres(Redacted.make(url.toString()), { maxConnections: 1 })))
})

const main = Effect.gen(function*() {
  yield* ensureDatabase
  const logDir = join(process.cwd(), ".data", "cluster")
  const cluster = yield* LocalCluster.start({
    databaseUrl,
    redisUrl: redisUrl.length > 0 ? redisUrl : undefined,
    gatewayPort,
    runnerPorts,
    logDir
  })
  yield* Effect.logInfo(
    `cluster up: gateway ${cluster.gatewayUrl} (pid ${cluster.gateway.pid()}), runners ${
      cluster.runners.map((r) => `${r.name} :${r.port} (pid ${r.pid()})`).join(", ")
    }; logs in ${logDir}; Ctrl-C to stop`
  )
  return yield* Effect.never
}).pipe(Effect.scoped)

NodeRuntime.runMain(main)
