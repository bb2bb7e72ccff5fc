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
import { Effect } from "effect"
import { withInProcessService } from "./inProcessService.js"
import { summarize } from "./stats.js"

const CYCLES = Number(process.env["BENCH_GATEWAY_CYCLES"] ?? 200)
const BUSY_PROJECTS = 50

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

export const run = () =>
  withInProcessService(
    { name: "gw_bench", steps: { tasks: 100_000, stepDuration: "50 millis" }, maxConnections: 10 },
    (baseUrl) =>
      Effect.gen(function*() {
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
  )
