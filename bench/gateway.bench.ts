/**
 * Gateway HTTP command latency: the pause / resume round trip (HTTP → gateway → cluster client →
 * Project entity → journal + projections in one statement → HTTP answer), p50 / p99:
 *
 * - idle: one project whose execution runs (placeholder steps), nothing else going on;
 * - busy: the same while 50 other projects run executions (placeholder steps every 50 ms each).
 *
 * In process (ROLE=all topology: gateway + runner + cluster), on a fresh Postgres database
 * (`BENCH_POSTGRES_ADMIN_URL`, default postgres://postgres@127.0.0.1:5432/postgres), dropped
 * afterwards. The WebSocket half of command-to-frame is measured by the WS gateway's benchmark.
 */
import * as Cluster from "@devteam/runner/Cluster"
import * as PlaceholderStepRunner from "@devteam/runner/PlaceholderStepRunner"
import * as Runner from "@devteam/runner/Runner"
import { SingleSteps } from "@devteam/runner/SingleSteps"
import * as Database from "@devteam/runtime/Database"
import { EventBus } from "@devteam/runtime/EventBus"
import * as Storage from "@devteam/runtime/Storage"
import { Gateway } from "@devteam/server"
import { HttpLayerRouter, HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { ConfigProvider, Context, Effect, Layer, Logger, LogLevel, Option, Redacted } from "effect"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import { createServer } from "node:http"
import * as Os from "node:os"
import * as Path from "node:path"
import { summarize } from "./stats.js"

const ADMIN_URL = process.env["BENCH_POSTGRES_ADMIN_URL"] ?? "postgres://postgres@127.0.0.1:5432/postgres"
const CYCLES = Number(process.env["BENCH_GATEWAY_CYCLES"] ?? 200)
const BUSY_PROJECTS = 50

const admin = (statement: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(statement)).pipe(
    Effect.provide(PgClient.layer({ url: Redacted.make(ADMIN_URL), maxConnections: 1 })),
    Effect.orDie
  )

const post = async (url: string) => {
  const started = performance.now()
  const res = await fetch(url, { method: "POST" })
  await res.arrayBuffer()
  return { status: res.status, ms: performance.now() - started }
}

const statusOf = async (url: string): Promise<string> => {
  const res = await fetch(url)
  const body: unknown = await res.json()
  return typeof body === "object" && body !== null && "status" in body && typeof body.status === "string"
    ? body.status
    : ""
}

const start = async (base: string, projectId: string, repoUrl: string) => {
  const res = await fetch(`${base}/api/devteam/automation/initialize`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ projectId, repoUrl })
  })
  await res.arrayBuffer()
  if (res.status !== 202) throw new Error(`initialize ${projectId}: ${res.status}`)
}

/** `CYCLES` × (pause → wait PAUSED → resume), timing each HTTP command. */
const cycles = async (base: string, projectId: string) => {
  const p = encodeURIComponent(projectId)
  const samples: Array<number> = []
  for (let i = 0; i < CYCLES; i++) {
    const pause = await post(`${base}/api/devteam/automation/pause/${p}`)
    if (pause.status !== 200) throw new Error(`pause: ${pause.status}`)
    samples.push(pause.ms)
    while ((await statusOf(`${base}/api/devteam/automation/status/${p}`)) !== "PAUSED") {
      await new Promise((r) => setTimeout(r, 1))
    }
    const resume = await post(`${base}/api/devteam/automation/resume/${p}`)
    if (resume.status !== 200) throw new Error(`resume: ${resume.status}`)
    samples.push(resume.ms)
  }
  return summarize(samples)
}

class Base extends Context.Tag("bench/Base")<Base, string>() {}

export const run = async () => {
  const name = `gw_bench_${Crypto.randomBytes(4).toString("hex")}`
  const dataDir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "devteam-gw-bench-"))
  const url = new URL(ADMIN_URL)
  url.pathname = `/${name}`
  const config = { role: "all", host: "127.0.0.1", port: 0, jwtSecret: Option.none(), dataDir } as const
  const server = HttpLayerRouter.serve(Gateway.routes(config), { disableLogger: true }).pipe(
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
  const runner = Runner.layerWith(
    PlaceholderStepRunner.layer({ tasks: 100_000, stepDuration: "50 millis" }),
    singleSteps
  )
  const app = Layer.mergeAll(base.pipe(Layer.provideMerge(server)), runner).pipe(
    Layer.provideMerge(Cluster.layer("all", true)),
    Layer.provideMerge(
      Storage.layerWith(
        Database.layerPostgres(Redacted.make(url.toString()), { maxConnections: 10 }),
        EventBus.layerMemory
      )
    ),
    Layer.provide(Layer.setConfigProvider(
      ConfigProvider.fromMap(new Map([["DATA_DIR", dataDir], ["WAKEUP_INTERVAL", "1 hour"]])).pipe(
        ConfigProvider.orElse(() => ConfigProvider.fromEnv())
      )
    )),
    Layer.provide(Logger.minimumLogLevel(LogLevel.Warning))
  )
  const program = Effect.gen(function*() {
    const baseUrl = yield* Base
    const repoUrl = "https://example.invalid/bench/repo.git"
    yield* Effect.promise(() => start(baseUrl, "bench/idle", repoUrl))
    const idle = yield* Effect.promise(() => cycles(baseUrl, "bench/idle"))
    // reference in the same run: a read served from the projection (no entity)
    const reads = yield* Effect.promise(async () => {
      const samples: Array<number> = []
      for (let i = 0; i < CYCLES; i++) {
        const started = performance.now()
        await statusOf(`${baseUrl}/api/devteam/automation/status/${encodeURIComponent("bench/idle")}`)
        samples.push(performance.now() - started)
      }
      return summarize(samples)
    })
    yield* Effect.promise(() =>
      Promise.all(Array.from({ length: BUSY_PROJECTS }, (_, i) => start(baseUrl, `bench/busy-${i}`, repoUrl)))
    )
    yield* Effect.sleep("500 millis")
    const busy = yield* Effect.promise(() => cycles(baseUrl, "bench/idle"))
    return {
      database: "postgres",
      cycles: CYCLES,
      statusReadIdleMs: reads,
      pauseResumeIdleMs: idle,
      pauseResumeWith50BusyProjectsMs: busy
    }
  })
  return await Effect.runPromise(
    Effect.scoped(Effect.gen(function*() {
      yield* Effect.acquireRelease(
        admin(`CREATE DATABASE ${name}`),
        () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      )
      return yield* program.pipe(Effect.provide(app))
    })).pipe(Effect.ensuring(Effect.sync(() => Fs.rmSync(dataDir, { recursive: true, force: true }))))
  )
}
