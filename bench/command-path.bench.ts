/**
 * The command path, measured the way the peer benchmark's loadgen measures it: a command's
 * `POST` until its `execution-update` frame arrives on the project's WebSocket (HTTP → gateway →
 * Project entity → decide → journal append with projections → bus → `/ws/devteam`). Commands
 * alternate pause / resume on executions parked in a long step (placeholder steps of one hour), so
 * every command is one journal entry and one frame, and no git runs.
 *
 * Scenarios (the loadgen's a, b, c):
 * - a: 1 project, sequential, the next command after the previous frame — latency;
 * - b: 50 projects × 40, each project waits for its frame, projects in parallel — latency, events/s;
 * - c: 20 projects × 100, each project waits only for the HTTP answer — events/s, per-project order.
 *
 * In process (ROLE=all: gateway + runner + cluster), on a fresh Postgres database
 * (`BENCH_POSTGRES_ADMIN_URL`, default postgres://postgres@127.0.0.1:5432/postgres), dropped
 * afterwards. CPU per command is this process's CPU time over the scenario (it includes the
 * clients' side, which the loadgen keeps in its own process), divided by the commands; Postgres's
 * CPU per command is its backends' for the service's database (Postgres on this host only: read
 * from /proc; a backend that closes during the scenario is not counted).
 *
 * `BENCH_CPU_PROFILE=<dir>`: writes a V8 CPU profile of each scenario's measured part (not the
 * set-up) to `<dir>/command-path-<scenario>.cpuprofile`. `BENCH_SCENARIOS=a,c`: only those scenarios.
 *
 * `layers`: where a command's CPU goes. This process's CPU per operation, 50 projects × 40
 * operations each, one at a time per project: an HTTP request nothing answers but the router
 * (404: the HTTP server and client and the global middleware), a status read, a pause / resume
 * sent through the cluster client with no HTTP (entity, decide, journal append, bus), and the same
 * over HTTP; no WebSocket is open (scenario b's CPU per command adds the frame and its delivery).
 */
import { Project } from "@devteam/runner/ProjectEntity"
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"
import { readFileSync, writeFileSync } from "node:fs"
import { Session } from "node:inspector/promises"
import { join } from "node:path"
import { WebSocket } from "ws"
import { agent, call } from "./http.js"
import { withInProcessService } from "./inProcessService.js"
import { summarize } from "./stats.js"

const statusOf = (body: unknown): string =>
  typeof body === "object" && body !== null && "status" in body && typeof body.status === "string" ? body.status : ""

/** A project with an execution parked in a step, and its WebSocket counting the command frames. */
const park = async (base: string, projectId: string) => {
  const p = encodeURIComponent(projectId)
  const init = await call(base, "POST", "/api/devteam/automation/initialize", {
    projectId,
    repoUrl: "https://example.invalid/bench/repo.git"
  })
  if (init.status !== 202) throw new Error(`initialize ${projectId}: ${init.status}`)
  for (let i = 0;; i++) {
    const status = statusOf((await call(base, "GET", `/api/devteam/automation/status/${p}`)).body)
    if (status !== "QUEUED" && status !== "") break
    if (i > 2000) throw new Error(`${projectId} never started`)
    await new Promise((r) => setTimeout(r, 5))
  }
  const waiting: Array<() => void> = []
  let lastSeq = Number.POSITIVE_INFINITY
  const ws = new WebSocket(`${base.replace("http", "ws")}/ws/devteam?projectId=${p}`, { perMessageDeflate: false })
  await new Promise<void>((resolve, reject) => {
    ws.on("message", (data: Buffer) => {
      const frame: unknown = JSON.parse(data.toString())
      if (typeof frame !== "object" || frame === null || !("type" in frame)) return
      if (frame.type === "subscribed" && "payload" in frame && typeof frame.payload === "object") {
        const payload = frame.payload
        lastSeq = payload !== null && "lastSeq" in payload && typeof payload.lastSeq === "number"
          ? payload.lastSeq
          : 0
        resolve()
      } else if (frame.type === "execution-update" && "seq" in frame && typeof frame.seq === "number") {
        if (frame.seq > lastSeq) waiting.shift()?.()
      }
    })
    ws.once("error", reject)
  })
  let commands = 0
  /** Sends the next command; resolves once it is answered, with the promise of its frame. */
  const command = async () => {
    const verb = commands++ % 2 === 0 ? "pause" : "resume"
    const framed = new Promise<void>((resolve) => waiting.push(resolve))
    const res = await call(base, "POST", `/api/devteam/automation/${verb}/${p}`)
    if (res.status !== 200) throw new Error(`${verb} ${projectId}: ${res.status} ${JSON.stringify(res.body)}`)
    return { framed }
  }
  return { command, close: () => ws.close() }
}

type Parked = Awaited<ReturnType<typeof park>>

/** This process's CPU per operation, `perProject` operations one at a time per project, projects in parallel. */
const cpuPerOperation = async (
  projects: number,
  perProject: number,
  op: (project: number, i: number) => Promise<void>
) => {
  const cpu = process.cpuUsage()
  await Promise.all(Array.from({ length: projects }, async (_, p) => {
    for (let i = 0; i < perProject; i++) await op(p, i)
  }))
  const used = process.cpuUsage(cpu)
  return Math.round(((used.user + used.system) / 1000 / (projects * perProject)) * 1000) / 1000
}

const PROFILE_DIR = process.env["BENCH_CPU_PROFILE"]
const SCENARIOS = (process.env["BENCH_SCENARIOS"] ?? "a,b,c,layers").split(",")

/** Runs `f` under the V8 profiler when BENCH_CPU_PROFILE is set. */
const profiled = async <A>(name: string, f: () => Promise<A>): Promise<A> => {
  if (PROFILE_DIR === undefined || PROFILE_DIR === "") return f()
  const session = new Session()
  session.connect()
  await session.post("Profiler.enable")
  await session.post("Profiler.start")
  try {
    return await f()
  } finally {
    const { profile } = await session.post("Profiler.stop")
    writeFileSync(join(PROFILE_DIR, `command-path-${name}.cpuprofile`), JSON.stringify(profile))
    session.disconnect()
  }
}

/** CPU time (ms) so far of each Postgres backend connected to the service's database; none when Postgres is not local. */
const postgresBackendsCpu = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ pid: number }>`SELECT pid FROM pg_stat_activity WHERE datname = current_database()`
  const cpu = new Map<number, number>()
  for (const { pid } of rows) {
    try {
      // a pid of another host's Postgres may be some other process here
      if (!readFileSync(`/proc/${pid}/cmdline`, "utf8").startsWith("postgres")) return undefined
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      // utime + stime, in clock ticks of 10 ms (USER_HZ on Linux)
      cpu.set(pid, (Number(fields[11]) + Number(fields[12])) * 10)
    } catch {
      return undefined
    }
  }
  return cpu
}).pipe(Effect.orDie)

/** Postgres's CPU per command between two readings of `postgresBackendsCpu`. */
const postgresCpuPerCommand = (
  before: ReadonlyMap<number, number> | undefined,
  after: ReadonlyMap<number, number> | undefined,
  commands: number
): number | undefined => {
  if (before === undefined || after === undefined) return undefined
  let used = 0
  for (const [pid, ms] of after) used += ms - (before.get(pid) ?? 0)
  return Math.round((used / commands) * 100) / 100
}

const measure = async (
  projects: ReadonlyArray<Parked>,
  events: number,
  waitForFrame: boolean
) => {
  const latencies: Array<number> = []
  const cpu = process.cpuUsage()
  const started = performance.now()
  await Promise.all(projects.map(async (project) => {
    const framed: Array<Promise<void>> = []
    for (let i = 0; i < events; i++) {
      const t0 = performance.now()
      const frame = (await project.command()).framed.then(() => {
        latencies.push(performance.now() - t0)
      })
      if (waitForFrame) await frame
      else framed.push(frame)
    }
    await Promise.all(framed)
  }))
  const seconds = (performance.now() - started) / 1000
  const used = process.cpuUsage(cpu)
  const total = projects.length * events
  return {
    commands: total,
    latencyMs: summarize(latencies),
    eventsPerSecond: Math.round(total / seconds),
    cpuMsPerCommand: Math.round(((used.user + used.system) / 1000 / total) * 100) / 100
  }
}

/** This process's CPU time per second of wall time over `millis` with nothing to do. */
const idleCpu = async (millis: number) => {
  const cpu = process.cpuUsage()
  const started = performance.now()
  await new Promise((r) => setTimeout(r, millis))
  const used = process.cpuUsage(cpu)
  return Math.round(((used.user + used.system) / 1000 / ((performance.now() - started) / 1000)) * 100) / 100
}

export const run = async () => {
  try {
    return await withInProcessService({
      name: "cmd_bench",
      // every step lasts an hour: the executions stay parked in their first step
      steps: { tasks: 10, stepDuration: "1 hour" },
      config: { MAX_CONCURRENT_EXECUTIONS: "500" }
    }, (baseUrl) =>
      Effect.gen(function*() {
        const parkAll = (prefix: string, n: number) =>
          Effect.promise(() => Promise.all(Array.from({ length: n }, (_, i) => park(baseUrl, `bench/${prefix}-${i}`))))
        const scenario = (prefix: string, n: number, events: number, waitForFrame: boolean) =>
          prefix !== "warmup" && !SCENARIOS.includes(prefix) ? Effect.succeed(undefined) : Effect.acquireUseRelease(
            parkAll(prefix, n),
            (projects) =>
              Effect.gen(function*() {
                const before = yield* postgresBackendsCpu
                const result = yield* Effect.promise(() =>
                  profiled(prefix, () => measure(projects, events, waitForFrame))
                )
                const after = yield* postgresBackendsCpu
                return {
                  ...result,
                  postgresCpuMsPerCommand: postgresCpuPerCommand(before, after, result.commands)
                }
              }),
            (projects) => Effect.sync(() => projects.forEach((p) => p.close()))
          )
        yield* scenario("warmup", 20, 20, true)
        // the service's own work with no command in flight (cluster shard-lock refresh and
        // assignment polling, the feeds' journal poll, …): part of every scenario's CPU per command
        const idle = yield* Effect.promise(() => profiled("idle", () => idleCpu(5_000)))
        const client = yield* Project.client
        const layers = !SCENARIOS.includes("layers") ? Effect.succeed(undefined) : Effect.acquireUseRelease(
          parkAll("layers", 50),
          (projects) =>
            Effect.promise(async () => {
              // no WebSocket: frames and their delivery are scenario b's (its cpuMsPerCommand)
              projects.forEach((p) => p.close())
              const path = (p: number) => encodeURIComponent(`bench/layers-${p}`)
              const expect = (status: number, wanted: number) => {
                if (status !== wanted) throw new Error(`layers: HTTP ${status}, expected ${wanted}`)
              }
              const verb = (i: number) => (i % 2 === 0 ? "Pause" : "Resume")
              return {
                httpNotFound: await cpuPerOperation(
                  50,
                  40,
                  async () => expect((await call(baseUrl, "GET", "/api/devteam/no-such-route")).status, 404)
                ),
                statusRead: await cpuPerOperation(
                  50,
                  40,
                  async (p) =>
                    expect((await call(baseUrl, "GET", `/api/devteam/automation/status/${path(p)}`)).status, 200)
                ),
                commandThroughClusterClient: await cpuPerOperation(
                  50,
                  40,
                  (p, i) =>
                    Effect.runPromise(Effect.asVoid(Effect.orDie(
                      client(`bench/layers-${p}`)[verb(i)]({ correlationId: "bench-layers" })
                    )))
                ),
                commandOverHttp: await cpuPerOperation(50, 40, async (p, i) =>
                  expect(
                    (await call(baseUrl, "POST", `/api/devteam/automation/${verb(i).toLowerCase()}/${path(p)}`)).status,
                    200
                  ))
              }
            }),
          (projects) => Effect.sync(() => projects.forEach((p) => p.close()))
        )
        return {
          database: "postgres",
          idleCpuMsPerSecond: idle,
          a_sequential_1x500: yield* scenario("a", 1, 500, true),
          b_concurrent_50x40: yield* scenario("b", 50, 40, true),
          c_burst_20x100: yield* scenario("c", 20, 100, false),
          layersCpuMsPerOperation: yield* layers
        }
      }))
  } finally {
    agent.destroy()
  }
}
