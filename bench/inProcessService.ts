/**
 * The in-process service the HTTP benchmarks drive (gateway.bench, command-path.bench): the
 * ROLE=all topology (gateway routes + runner + cluster) with placeholder steps, on a fresh Postgres
 * database (`BENCH_POSTGRES_ADMIN_URL`, default postgres://postgres@127.0.0.1:5432/postgres) and a
 * temporary DATA_DIR, both removed afterwards. `program` gets the service's base URL (and may use
 * the cluster, to reach entities without HTTP).
 */
import * as Cluster from "@devteam/runner/Cluster"
import * as PlaceholderStepRunner from "@devteam/runner/PlaceholderStepRunner"
import * as Runner from "@devteam/runner/Runner"
import { SingleSteps } from "@devteam/runner/SingleSteps"
import * as Database from "@devteam/runtime/Database"
import { EventBus } from "@devteam/runtime/EventBus"
import * as ProcessLauncher from "@devteam/runtime/ProcessLauncher"
import * as Storage from "@devteam/runtime/Storage"
import { Gateway } from "@devteam/server"
import type { Sharding } from "@effect/cluster/Sharding"
import { HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { ConfigProvider, Context, Effect, Layer, Logger, LogLevel, Option, Redacted } from "effect"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import { createServer } from "node:http"
import * as Os from "node:os"
import * as Path from "node:path"

const ADMIN_URL = process.env["BENCH_POSTGRES_ADMIN_URL"] ?? "postgres://postgres@127.0.0.1:5432/postgres"

const admin = (statement: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(statement)).pipe(
    Effect.provide(PgClient.layer({ url: Redacted.make(ADMIN_URL), maxConnections: 1 })),
    Effect.orDie
  )

/** A fresh Postgres database for the scope (dropped at its end): its URL. */
export const freshDatabase = (prefix: string) =>
  Effect.gen(function*() {
    const name = `${prefix}_${Crypto.randomBytes(4).toString("hex")}`
    yield* Effect.acquireRelease(
      admin(`CREATE DATABASE ${name}`),
      () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    )
    const url = new URL(ADMIN_URL)
    url.pathname = `/${name}`
    return url.toString()
  })

class Base extends Context.Tag("bench/Base")<Base, string>() {}

export interface InProcessServiceOptions {
  /** Prefix of the database's and DATA_DIR's names. */
  readonly name: string
  /** The placeholder pipeline every execution runs. */
  readonly steps: PlaceholderStepRunner.PlaceholderOptions
  /** The journal's connection pool (the layer's default when absent). */
  readonly maxConnections?: number
  /** Configuration on top of DATA_DIR and WAKEUP_INTERVAL=1 hour (then the environment). */
  readonly config?: Readonly<Record<string, string>>
}

export const withInProcessService = async <A>(
  options: InProcessServiceOptions,
  program: (baseUrl: string) => Effect.Effect<A, never, Sharding | SqlClient.SqlClient>
): Promise<A> => {
  const name = `${options.name}_${Crypto.randomBytes(4).toString("hex")}`
  const dataDir = Fs.mkdtempSync(Path.join(Os.tmpdir(), `devteam-${options.name}-`))
  const url = new URL(ADMIN_URL)
  url.pathname = `/${name}`
  const config = { role: "all", host: "127.0.0.1", port: 0, jwtSecret: Option.none(), dataDir } as const
  const server = Gateway.serve(Gateway.routes(config), { disableLogger: true }).pipe(
    Layer.provide(Gateway.healthChecks(config)),
    Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }))
  )
  const base = Layer.effect(
    Base,
    Effect.map(
      HttpServer.HttpServer,
      (s) => s.address._tag === "TcpAddress" ? `http://127.0.0.1:${s.address.port}` : ""
    )
  )
  const singleSteps = Layer.succeed(SingleSteps, {
    prep: () => Effect.dieMessage("not used"),
    implement: () => Effect.dieMessage("not used"),
    verify: () => Effect.dieMessage("not used")
  })
  const runner = Runner.layerWith(PlaceholderStepRunner.layer(options.steps), singleSteps)
  const app = Layer.mergeAll(base.pipe(Layer.provideMerge(server)), runner).pipe(
    Layer.provideMerge(Cluster.layer("all", true)),
    // as the service (Main): git starts from the launcher's helper process
    Layer.provideMerge(ProcessLauncher.layerHelper),
    Layer.provideMerge(
      Storage.layerWith(
        Database.layerPostgres(Redacted.make(url.toString()), { maxConnections: options.maxConnections }),
        EventBus.layerMemory
      )
    ),
    Layer.provide(Layer.setConfigProvider(
      ConfigProvider.fromMap(
        new Map([["DATA_DIR", dataDir], ["WAKEUP_INTERVAL", "1 hour"], ...Object.entries(options.config ?? {})])
      ).pipe(ConfigProvider.orElse(() => ConfigProvider.fromEnv()))
    )),
    Layer.provide(Logger.minimumLogLevel(LogLevel.Warning)),
    // as the service's entry point (bin.ts): no spans
    Layer.provide(Layer.setTracerEnabled(false))
  )
  return await Effect.runPromise(
    Effect.scoped(Effect.gen(function*() {
      yield* Effect.acquireRelease(
        admin(`CREATE DATABASE ${name}`),
        () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      )
      return yield* Effect.flatMap(Base, program).pipe(Effect.provide(app))
    })).pipe(Effect.ensuring(Effect.sync(() => Fs.rmSync(dataDir, { recursive: true, force: true }))))
  )
}
