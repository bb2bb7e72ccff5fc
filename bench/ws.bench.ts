/**
 * WebSocket gateway benchmark (loopback, real Postgres, the real `/ws/devteam` route on a Node HTTP
 * server, real `ws` clients in the same process):
 *
 * - commandToFrame.idle: one project, sequential journal appends (pause / resume: one
 *   execution-update each); time from the append's start to the matching frame on an open socket;
 * - commandToFrame.busy50: the same, 50 projects at once, each writer waiting for its own frame
 *   before the next append; latency p50 / p99 and events per second;
 * - fanout: 1,000 clients on 100 projects (10 each); rounds of one append per project; latency
 *   from the append's start to each client's frame (p50 / p99 over every delivery).
 *
 * `BENCH_WS_BUS=redis` uses the Redis event bus (`BENCH_REDIS_URL`, default redis://127.0.0.1:6379)
 * instead of the in-process one. Postgres: a fresh database on `BENCH_POSTGRES_ADMIN_URL` (default
 * postgres://postgres@127.0.0.1:5432/postgres), dropped afterwards.
 */
import { ExecutionCommand } from "@devteam/domain/ExecutionCommand"
import { ExecutionConfig } from "@devteam/domain/ExecutionConfig"
import { decide, evolveEach } from "@devteam/domain/ExecutionMachine"
import { CustomerId, EventId, ExecutionId, ProjectId } from "@devteam/domain/Ids"
import { initial, type ProjectState } from "@devteam/domain/ProjectState"
import type { EncodedFrame } from "@devteam/domain/WsFrame"
import * as Database from "@devteam/runtime/Database"
import { EventBus } from "@devteam/runtime/EventBus"
import * as EventBusRedis from "@devteam/runtime/EventBusRedis"
import * as Journal from "@devteam/runtime/Journal"
import * as Projections from "@devteam/runtime/Projections"
import * as WsGateway from "@devteam/server/ws/WsGateway"
import { HttpLayerRouter, HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import * as SqlClient from "@effect/sql/SqlClient"
import { Array as Arr, Context, Effect, Either, Layer, Logger, LogLevel, Option, Redacted } from "effect"
import * as Crypto from "node:crypto"
import { createServer } from "node:http"
import { WebSocket } from "ws"
import { summarize } from "./stats.js"

const ADMIN_URL = process.env["BENCH_POSTGRES_ADMIN_URL"] ?? "postgres://postgres@127.0.0.1:5432/postgres"
const REDIS_URL = process.env["BENCH_REDIS_URL"] ?? "redis://127.0.0.1:6379"
const USE_REDIS = process.env["BENCH_WS_BUS"] === "redis"
const IDLE_COMMANDS = Number(process.env["BENCH_WS_IDLE_COMMANDS"] ?? 500)
const BUSY_PROJECTS = 50
const BUSY_COMMANDS_PER_PROJECT = Number(process.env["BENCH_WS_BUSY_COMMANDS"] ?? 40)
const FANOUT_PROJECTS = Number(process.env["BENCH_WS_FANOUT_PROJECTS"] ?? 100)
const FANOUT_CLIENTS_PER_PROJECT = 10
const FANOUT_ROUNDS = 20
const WARMUP = 30

const iso = () => new Date().toISOString()

const cpuMicros = (usage: NodeJS.CpuUsage) => usage.user + usage.system

/** When each frame was published on the bus (right after its commit), by `projectId#seq`. */
const publishedAt = new Map<string, number>()

/** The bus the journal publishes on, recording publish times (delivery is measured from there too). */
const recordingBus = (inner: Layer.Layer<EventBus>) =>
  Layer.effect(
    EventBus,
    Effect.map(EventBus, (bus) => ({
      ...bus,
      publish: (projectId: ProjectId, frames: ReadonlyArray<EncodedFrame>) =>
        Effect.suspend(() => {
          const now = performance.now()
          for (const { frame } of frames) publishedAt.set(`${projectId}#${frame.seq}`, now)
          if (publishedAt.size > 100_000) publishedAt.clear()
          return bus.publish(projectId, frames)
        })
    }))
  ).pipe(Layer.provide(inner))

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
      const result = yield* Effect.orDie(journal.append({ projectId, expectedSeq: seq, steps, correlationId: "bench" }))
      state = Arr.lastNonEmpty(steps).after
      seq = result.lastSeq
      return seq
    })
  return {
    next: () => seq + 1,
    initialize: exec(ExecutionCommand.Initialize({
      executionId: ExecutionId.make(Crypto.randomUUID()),
      eventId: EventId.make(Crypto.randomUUID()),
      config: new ExecutionConfig({
        repoUrl: "file:///tmp/bench.git",
        baseBranch: "main",
        taskListPath: "docs/DevTeam/tasks_list.md",
        tool: "script",
        customerId: CustomerId.make("bench")
      }),
      at: iso()
    })),
    /** One execution-update: pause, then resume, alternately. */
    update: Effect.suspend(() =>
      exec(state.status === "PAUSED" ? ExecutionCommand.Resume({ at: iso() }) : ExecutionCommand.Pause({ at: iso() }))
    )
  }
}

/** A client that resolves waiters on (project, seq) and reports each frame's arrival time. */
const openClient = (url: string, onFrame?: (projectId: string, seq: number, at: number) => void) =>
  new Promise<{ readonly ws: WebSocket; readonly waitSeq: (projectId: string, seq: number) => Promise<number> }>(
    (resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false })
      let opened = false
      const waitSeq = (projectId: string, seq: number) =>
        new Promise<number>((done) => {
          const key = `${projectId}#${seq}`
          const early = seen.get(key)
          if (early !== undefined) {
            seen.delete(key)
            return done(early)
          }
          waiters.set(key, done)
        })
      const waiters = new Map<string, (at: number) => void>()
      const seen = new Map<string, number>()
      ws.on("message", (data) => {
        const at = performance.now()
        const frame: unknown = JSON.parse(data.toString())
        // ready once the subscription went live (the frame can come in the same read as the 101)
        if (
          !opened && typeof frame === "object" && frame !== null && "type" in frame && frame.type === "replay-complete"
        ) {
          opened = true
          resolve({ ws, waitSeq })
        }
        if (
          typeof frame !== "object" || frame === null || !("seq" in frame) || !("projectId" in frame) ||
          typeof frame.seq !== "number" || typeof frame.projectId !== "string"
        ) return
        onFrame?.(frame.projectId, frame.seq, at)
        const key = `${frame.projectId}#${frame.seq}`
        const waiter = waiters.get(key)
        if (waiter !== undefined) {
          waiters.delete(key)
          waiter(at)
        } else {
          seen.set(key, at)
          if (seen.size > 1000) seen.clear()
        }
      })
      ws.once("error", reject)
    }
  )

const bench = Effect.gen(function*() {
  const journal = yield* Journal.Journal
  const gateway = yield* WsGateway.make({
    role: "gateway",
    host: "127.0.0.1",
    port: 0,
    jwtSecret: Option.none(),
    dataDir: "/tmp"
  }, WsGateway.defaults)
  const context = yield* Layer.build(
    HttpLayerRouter.serve(HttpLayerRouter.add("GET", WsGateway.PATH, gateway.handler), { disableLogger: true }).pipe(
      Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }))
    )
  )
  const server = Context.get(context, HttpServer.HttpServer)
  const port = server.address._tag === "TcpAddress" ? server.address.port : 0
  const base = `ws://127.0.0.1:${port}${WsGateway.PATH}`
  const connect = (projectId: ProjectId, onFrame?: (projectId: string, seq: number, at: number) => void) =>
    Effect.acquireRelease(
      Effect.promise(async () => {
        return await openClient(`${base}?projectId=${encodeURIComponent(projectId)}`, onFrame)
      }),
      (client) => Effect.sync(() => client.ws.terminate())
    )
  const run = Math.random().toString(36).slice(2, 8)

  const progress = (stage: string) => Effect.sync(() => console.log(`ws bench: ${stage}`))
  yield* progress("gateway up")
  // (a) idle: one project
  const idleProject = ProjectId.make(`bench/ws-idle-${run}`)
  const idleWriter = makeWriter(journal, idleProject)
  yield* idleWriter.initialize
  const idleClient = yield* connect(idleProject)
  const idle: Array<number> = []
  const idleAppend: Array<number> = []
  const idleDelivery: Array<number> = []
  for (let i = 0; i < WARMUP + IDLE_COMMANDS; i++) {
    const started = performance.now()
    const arrived = idleClient.waitSeq(idleProject, idleWriter.next())
    yield* idleWriter.update
    const committed = performance.now()
    const at = yield* Effect.promise(() => arrived)
    if (i >= WARMUP) {
      idle.push(at - started)
      idleAppend.push(committed - started)
      idleDelivery.push(at - (publishedAt.get(`${idleProject}#${idleWriter.next() - 1}`) ?? started))
    }
  }

  yield* progress("idle done")
  // (b) 50 busy projects, each writer waits for its frame
  const busy: Array<number> = []
  const busyDelivery: Array<number> = []
  const busyProjects = Arr.makeBy(BUSY_PROJECTS, (i) => ProjectId.make(`bench/ws-busy-${run}-${i}`))
  const busyStarted = performance.now()
  const busyCpu = process.cpuUsage()
  yield* Effect.forEach(busyProjects, (projectId) =>
    Effect.gen(function*() {
      const writer = makeWriter(journal, projectId)
      yield* writer.initialize
      const client = yield* connect(projectId)
      for (let i = 0; i < BUSY_COMMANDS_PER_PROJECT; i++) {
        const started = performance.now()
        const seq = writer.next()
        const arrived = client.waitSeq(projectId, seq)
        yield* writer.update
        const at = yield* Effect.promise(() => arrived)
        busy.push(at - started)
        busyDelivery.push(at - (publishedAt.get(`${projectId}#${seq}`) ?? started))
      }
    }), { concurrency: "unbounded", discard: true })
  const busySeconds = (performance.now() - busyStarted) / 1000
  const busyCpuMicros = cpuMicros(process.cpuUsage(busyCpu))

  yield* progress("busy done")
  // (c) fan-out: 1,000 clients on 100 projects
  const fanProjects = Arr.makeBy(FANOUT_PROJECTS, (i) => ProjectId.make(`bench/ws-fan-${run}-${i}`))
  const writers = fanProjects.map((projectId) => makeWriter(journal, projectId))
  yield* Effect.forEach(writers, (writer) => writer.initialize, { concurrency: 10, discard: true })
  const sentAt = new Map<string, number>()
  const fanout: Array<number> = []
  const fanoutDelivery: Array<number> = []
  let delivered = 0
  const onFrame = (projectId: string, seq: number, at: number) => {
    const started = sentAt.get(`${projectId}#${seq}`)
    if (started !== undefined) {
      fanout.push(at - started)
      fanoutDelivery.push(at - (publishedAt.get(`${projectId}#${seq}`) ?? started))
      delivered++
    }
  }
  yield* Effect.forEach(
    fanProjects.flatMap((projectId) => Arr.makeBy(FANOUT_CLIENTS_PER_PROJECT, () => projectId)),
    (projectId) => connect(projectId, onFrame),
    { concurrency: 50, discard: true }
  )
  yield* progress("fan-out clients connected")
  const expected = FANOUT_ROUNDS * FANOUT_PROJECTS * FANOUT_CLIENTS_PER_PROJECT
  const fanStarted = performance.now()
  const fanCpu = process.cpuUsage()
  for (let round = 0; round < FANOUT_ROUNDS; round++) {
    yield* Effect.forEach(writers, (writer, i) =>
      Effect.suspend(() => {
        sentAt.set(`${fanProjects[i]}#${writer.next()}`, performance.now())
        return writer.update
      }), { concurrency: 10, discard: true })
    yield* Effect.sleep("20 millis")
  }
  const deadline = Date.now() + 30_000
  while (delivered < expected && Date.now() < deadline) yield* Effect.sleep("10 millis")
  const fanSeconds = (performance.now() - fanStarted) / 1000
  const fanCpuMicros = cpuMicros(process.cpuUsage(fanCpu))

  return {
    bus: USE_REDIS ? "redis" : "memory",
    database: "postgres",
    commandToFrame: {
      idle: summarize(idle),
      /** Reference, same run: the journal append alone (commit + projections), without delivery. */
      idleAppendOnly: summarize(idleAppend),
      /** Commit (bus publish) → frame on the socket: the gateway's share. */
      idlePublishToFrame: summarize(idleDelivery),
      busy50: {
        ...summarize(busy),
        eventsPerSecond: Math.round(busy.length / busySeconds),
        publishToFrame: summarize(busyDelivery),
        /** Process CPU (server, journal client and WS clients together) per event. */
        cpuMillisPerEvent: Math.round(busyCpuMicros / busy.length) / 1000
      }
    },
    fanout: {
      clients: FANOUT_PROJECTS * FANOUT_CLIENTS_PER_PROJECT,
      projects: FANOUT_PROJECTS,
      frames: FANOUT_ROUNDS * FANOUT_PROJECTS,
      deliveriesExpected: expected,
      delivered,
      deliveriesPerSecond: Math.round(delivered / fanSeconds),
      /** Append start → frame, per delivery (includes the append queueing of a round). */
      latency: summarize(fanout),
      /** Commit (bus publish) → frame, per delivery: the fan-out figure. */
      publishToFrame: summarize(fanoutDelivery),
      /** Process CPU (appends, gateway and the 1,000 clients' parsing together) per delivery. */
      cpuMicrosPerDelivery: Math.round(fanCpuMicros / Math.max(1, delivered))
    }
  }
})

const database = Layer.unwrapScoped(
  Effect.gen(function*() {
    const name = `devteam_bench_ws_${Date.now().toString(36)}`
    const admin = (statement: string) =>
      Effect.scoped(Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(statement))).pipe(
        Effect.provide(Database.layerPostgres(Redacted.make(ADMIN_URL), { maxConnections: 1 })),
        Effect.orDie
      )
    yield* Effect.acquireRelease(
      admin(`CREATE DATABASE ${name}`),
      () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    )
    const url = new URL(ADMIN_URL)
    url.pathname = `/${name}`
    return Database.layerPostgres(Redacted.make(url.toString()), { maxConnections: 10 })
  })
)

const storage = Journal.layer.pipe(
  Layer.provideMerge(Projections.Projections.layer),
  Layer.provideMerge(
    Layer.merge(
      database,
      recordingBus(USE_REDIS ? EventBusRedis.layer(Redacted.make(REDIS_URL)) : EventBus.layerMemory)
    )
  )
)

export const run = (): Promise<Record<string, unknown>> =>
  Effect.runPromise(
    Effect.scoped(bench).pipe(
      Effect.provide(storage),
      Logger.withMinimumLogLevel(LogLevel.Warning)
    )
  )
