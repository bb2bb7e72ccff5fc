/**
 * Journal append benchmark, on Postgres and on PGlite (on disk, as in embedded mode):
 *
 * - latency: one project, sequential single-event appends (pause / resume, the quality bar's
 *   reference command), each one transaction with its projections; p50 / p99 / mean;
 * - reference: a bare single-row INSERT (autocommit) on the same database, same run;
 * - sustained: 50 projects, one writer each (as 50 entities), appending concurrently for a fixed
 *   number of appends; appends per second and per-append p50 / p99.
 *
 * `BENCH_JOURNAL_BACKENDS=postgres` (or `pglite`) measures one backend only.
 *
 * Postgres: a fresh database on `BENCH_POSTGRES_ADMIN_URL` (default postgres://postgres@127.0.0.1:5432/postgres),
 * dropped afterwards. PGlite: a temporary directory, removed afterwards.
 */
import { ExecutionCommand } from "@devteam/domain/ExecutionCommand"
import { ExecutionConfig } from "@devteam/domain/ExecutionConfig"
import { decide, evolveEach } from "@devteam/domain/ExecutionMachine"
import { CustomerId, EventId, ExecutionId, ProjectId } from "@devteam/domain/Ids"
import { initial, type ProjectState } from "@devteam/domain/ProjectState"
import * as Database from "@devteam/runtime/Database"
import { EventBus } from "@devteam/runtime/EventBus"
import * as Journal from "@devteam/runtime/Journal"
import * as Projections from "@devteam/runtime/Projections"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { Array as Arr, Effect, Either, Layer, Logger, LogLevel, Redacted } from "effect"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import { summarize } from "./stats.js"

const ADMIN_URL = process.env["BENCH_POSTGRES_ADMIN_URL"] ?? "postgres://postgres@127.0.0.1:5432/postgres"
const LATENCY_APPENDS = Number(process.env["BENCH_JOURNAL_LATENCY_APPENDS"] ?? 1000)
const SUSTAINED_PROJECTS = 50
const SUSTAINED_APPENDS_PER_PROJECT = Number(process.env["BENCH_JOURNAL_APPENDS_PER_PROJECT"] ?? 60)
const WARMUP = 50

const round = (n: number) => Math.round(n * 1000) / 1000

/** Milliseconds: n, p50, p95, p99, max (bench/stats.ts) plus the mean. */
const summary = (samples: ReadonlyArray<number>) => ({
  ...summarize(samples),
  mean: round(samples.reduce((sum, x) => sum + x, 0) / Math.max(1, samples.length))
})

const iso = () => new Date().toISOString()

/** One project's writer: initialize, then alternate pause / resume, one event per append. */
const makeWriter = (journal: Journal.JournalService, projectId: ProjectId) => {
  let state: ProjectState = initial(projectId)
  let seq = 0
  const exec = (command: ExecutionCommand) =>
    Effect.gen(function*() {
      const decision = decide(state, command)
      if (Either.isLeft(decision) || !Arr.isNonEmptyReadonlyArray(decision.right)) {
        return yield* Effect.dieMessage(`bench: ${command._tag} rejected in ${state.status}`)
      }
      const steps = evolveEach(state, decision.right)
      const result = yield* journal.append({ projectId, expectedSeq: seq, steps, correlationId: "bench" })
      state = Arr.lastNonEmpty(steps).after
      seq = result.lastSeq
    })
  const start = exec(ExecutionCommand.Initialize({
    executionId: ExecutionId.make(Crypto.randomUUID()),
    eventId: EventId.make(Crypto.randomUUID()),
    config: new ExecutionConfig({
      repoUrl: "file:///tmp/bench.git",
      baseBranch: "main",
      taskListPath: "docs/DevTeam/tasks_list.md",
      tool: "script",
      customerId: CustomerId.make("bench"),
      userId: undefined
    }),
    at: iso()
  }))
  const next = Effect.suspend(() =>
    exec(state.status === "PAUSED" ? ExecutionCommand.Resume({ at: iso() }) : ExecutionCommand.Pause({ at: iso() }))
  )
  return { start, next }
}

const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const t0 = performance.now()
    yield* effect
    return performance.now() - t0
  })

const measure = Effect.gen(function*() {
  const journal = yield* Journal.Journal
  const run = Crypto.randomUUID().slice(0, 8)

  // latency: one project, sequential
  const single = makeWriter(journal, ProjectId.make(`bench/latency-${run}`))
  yield* single.start
  for (let i = 0; i < WARMUP; i++) yield* single.next
  const latencies: Array<number> = []
  for (let i = 0; i < LATENCY_APPENDS; i++) latencies.push(yield* timed(single.next))

  // reference in the same run: one single-row INSERT (autocommit) on the same database
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE IF NOT EXISTS bench_floor (id bigserial PRIMARY KEY, project_id text NOT NULL, data jsonb NOT NULL)`
  const floor: Array<number> = []
  for (let i = 0; i < WARMUP + LATENCY_APPENDS; i++) {
    const ms = yield* timed(sql`INSERT INTO bench_floor (project_id, data) VALUES (${run}, ${JSON.stringify({ i })})`)
    if (i >= WARMUP) floor.push(ms)
  }

  // sustained: 50 projects appending concurrently
  const writers = Arr.range(1, SUSTAINED_PROJECTS).map((i) => makeWriter(journal, ProjectId.make(`bench/p${i}-${run}`)))
  yield* Effect.forEach(writers, (w) => w.start, { concurrency: "unbounded", discard: true })
  const perAppend: Array<number> = []
  const t0 = performance.now()
  yield* Effect.forEach(writers, (w) =>
    Effect.gen(function*() {
      for (let i = 0; i < SUSTAINED_APPENDS_PER_PROJECT; i++) perAppend.push(yield* timed(w.next))
    }), { concurrency: "unbounded", discard: true })
  const seconds = (performance.now() - t0) / 1000
  return {
    appendLatency: summary(latencies),
    referenceSingleRowInsert: summary(floor),
    sustained: {
      projects: SUSTAINED_PROJECTS,
      appends: perAppend.length,
      seconds: round(seconds),
      appendsPerSecond: Math.round(perAppend.length / seconds),
      ...summary(perAppend)
    }
  }
})

const stack = <E>(database: Layer.Layer<SqlClient.SqlClient | Database.Database, E>) =>
  Journal.layer.pipe(
    Layer.provideMerge(Projections.Projections.layer),
    Layer.provideMerge(Layer.merge(database, EventBus.layerMemory))
  )

const admin = (statement: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(statement)).pipe(
    Effect.provide(PgClient.layer({ url: Redacted.make(ADMIN_URL), maxConnections: 1 })),
    Effect.orDie
  )

const onPostgres = Effect.gen(function*() {
  const name = `devteam_bench_${Date.now().toString(36)}`
  yield* Effect.acquireRelease(
    admin(`CREATE DATABASE ${name}`),
    () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
  )
  const url = new URL(ADMIN_URL)
  url.pathname = `/${name}`
  return yield* Effect.provide(
    measure,
    stack(Database.layerPostgres(Redacted.make(url.toString()), { maxConnections: 10 }))
  )
}).pipe(Effect.scoped)

const onPglite = Effect.gen(function*() {
  const dir = yield* Effect.acquireRelease(
    Effect.promise(() => Fs.mkdtemp(Path.join(Os.tmpdir(), "devteam-bench-pglite-"))),
    (dir) => Effect.promise(() => Fs.rm(dir, { recursive: true, force: true }))
  )
  return yield* Effect.provide(measure, stack(Database.layerPglite(Path.join(dir, "pglite"))))
}).pipe(Effect.scoped)

export const run = (): Promise<Record<string, unknown>> =>
  Effect.runPromise(
    Effect.gen(function*() {
      const backends = (process.env["BENCH_JOURNAL_BACKENDS"] ?? "postgres,pglite").split(",")
      const postgres = backends.includes("postgres") ? yield* onPostgres : "skipped"
      const pglite = backends.includes("pglite") ? yield* onPglite : "skipped"
      return {
        description: "journal append: one event per append, in one transaction with its projections " +
          "(project_status, executions, events); pause/resume commands",
        postgres,
        pglite
      }
    }).pipe(Logger.withMinimumLogLevel(LogLevel.Warning))
  )

// `npx tsx bench/journal.bench.ts` runs it alone
if (import.meta.url === `file://${process.argv[1] ?? ""}`) {
  run().then((result) => console.log(JSON.stringify(result, null, 2)), (error: unknown) => {
    console.error(error)
    process.exitCode = 1
  })
}
