import * as Database from "@devteam/runtime/Database"
import { EventBus } from "@devteam/runtime/EventBus"
import * as EventBusRedis from "@devteam/runtime/EventBusRedis"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer } from "effect"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import { adminUrl } from "./fixtures/Databases.js"

const withEnv = (env: Record<string, string>) =>
  Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

const probe = Effect.gen(function*() {
  const database = yield* Database.Database
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql`SELECT 41 + 1 AS answer`
  return { kind: database.kind, location: database.location, answer: rows[0]?.["answer"] }
})

describe("Database", () => {
  it.live("without DATABASE_URL: embedded PGlite, durable under $DATA_DIR/pglite", () =>
    Effect.acquireUseRelease(
      Effect.promise(() => Fs.mkdtemp(Path.join(Os.tmpdir(), "devteam-db-test-"))),
      (dir) =>
        Effect.gen(function*() {
          const result = yield* Effect.provide(probe, Database.layer.pipe(Layer.provide(withEnv({ DATA_DIR: dir }))))
          assert.deepStrictEqual(result, { kind: "pglite", location: Path.join(dir, "pglite"), answer: 42 })
          const files = yield* Effect.promise(() => Fs.readdir(Path.join(dir, "pglite")))
          assert.include(files, "PG_VERSION")
        }),
      (dir) => Effect.promise(() => Fs.rm(dir, { recursive: true, force: true }))
    ), { timeout: 60_000 })

  it.live("with DATABASE_URL: Postgres, and the location never shows credentials", () =>
    Effect.gen(function*() {
      // trust auth ignores the password; it must not appear in `location`
      const url = new URL(adminUrl)
      url.password = "s3cret-password"
      const env = { DATABASE_URL: url.toString(), DATA_DIR: "/nonexistent" }
      const result = yield* Effect.provide(probe, Database.layer.pipe(Layer.provide(withEnv(env))))
      assert.strictEqual(result.kind, "postgres")
      assert.strictEqual(result.answer, 42)
      assert.notInclude(result.location, "s3cret")
      assert.strictEqual(result.location, `postgres://${url.hostname}:${url.port}${url.pathname}`)
    }), { timeout: 30_000 })

  it.live("an empty DATABASE_URL counts as unset; REDIS_URL unset → in-process bus", () =>
    Effect.gen(function*() {
      const config = yield* Effect.provide(Database.DatabaseConfig, withEnv({ DATABASE_URL: " " }))
      assert.isTrue(config.url._tag === "None")
      assert.strictEqual(config.dataDir, "./.data")
      assert.strictEqual(config.maxConnections, Database.DEFAULT_MAX_CONNECTIONS)
      const bus = yield* Effect.provide(EventBus, EventBusRedis.layerConfig.pipe(Layer.provide(withEnv({}))))
      assert.strictEqual(bus.kind, "memory")
    }))

  it.effect("CLUSTER_DATABASE_MAX_CONNECTIONS: 4 by default, 3–100, a clear error outside", () =>
    Effect.gen(function*() {
      const byDefault = yield* Effect.provide(Database.DatabaseConfig, withEnv({}))
      assert.strictEqual(byDefault.clusterMaxConnections, 4)
      const set = yield* Effect.provide(Database.DatabaseConfig, withEnv({ CLUSTER_DATABASE_MAX_CONNECTIONS: "3" }))
      assert.strictEqual(set.clusterMaxConnections, 3)
      for (const value of ["2", "101"]) {
        const error = yield* Effect.flip(
          Effect.provide(Database.DatabaseConfig, withEnv({ CLUSTER_DATABASE_MAX_CONNECTIONS: value }))
        )
        assert.include(String(error), "CLUSTER_DATABASE_MAX_CONNECTIONS must be between 3 and 100")
      }
    }))
})
