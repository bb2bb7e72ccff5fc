/**
 * Time to start and projection lag (docs/operations.md, "Performance"), from the journal's own timestamps:
 *
 * - time to start: a start request (`POST /api/devteam/automation/initialize`, or the seed's
 *   `POST /events`, which also asks the remote for its default branch) until the first step's
 *   `startedAt` in the journal. Sequential, then in bursts of 10 projects at once.
 * - projection lag: a step's completion (its `completedAt`, stamped when the step returned) until
 *   the `task_context` of `GET /events/{eventId}` and the `lastUpdate` of the status route show it.
 *   Each execution has a client polling both routes back to back; a sample is the first poll that
 *   shows the change, so it includes up to one poll interval (reported as `pollIntervalMs`).
 *
 * In process (ROLE=all) with placeholder steps (no git, no tool) on a fresh Postgres database; the
 * repository is a local bare git repository, so `POST /events` pays a real `git ls-remote`.
 */
import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { agent, call, field } from "./http.js"
import { withInProcessService } from "./inProcessService.js"
import { summarize } from "./stats.js"

const now = () => performance.timeOrigin + performance.now()

/** A bare repository with one commit on `main`. */
const bareRepository = () => {
  const root = Fs.mkdtempSync(Path.join(Os.tmpdir(), "devteam-lifecycle-repo-"))
  const git = (cwd: string, ...args: Array<string>) => execFileSync("git", args, { cwd, stdio: "ignore" })
  const bare = Path.join(root, "remote.git")
  const work = Path.join(root, "work")
  Fs.mkdirSync(work)
  git(root, "init", "-q", "--bare", "-b", "main", bare)
  git(work, "init", "-q", "-b", "main")
  Fs.writeFileSync(Path.join(work, "README.md"), "bench\n")
  git(work, "add", ".")
  git(work, "-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "-q", "-m", "init")
  git(work, "push", "-q", bare, "main")
  return { root, url: `file://${bare}` }
}

const string = (value: unknown) => (typeof value === "string" ? value : undefined)

/** The journal timestamp of the project's first `StepStarted`, once there is one. */
const firstStepStarted = async (base: string, projectId: string): Promise<number> => {
  // the figure is the journal's timestamp, so polling slower only spares the service CPU
  for (let i = 0; i < 2000; i++) {
    const page = await call(base, "GET", `/admin/projects/${encodeURIComponent(projectId)}/journal?limit=50`)
    const events = field(page.body, "events")
    const started = Array.isArray(events)
      ? events.find((event: unknown) => field(event, "type") === "StepStarted")
      : undefined
    const ts = string(field(started, "ts"))
    if (ts !== undefined) return Date.parse(ts)
    await new Promise((r) => setTimeout(r, 10))
  }
  throw new Error(`${projectId}: no step started`)
}

const startByInitialize = async (base: string, repoUrl: string, projectId: string) => {
  const t0 = now()
  const res = await call(base, "POST", "/api/devteam/automation/initialize", { projectId, repoUrl, baseBranch: "main" })
  if (res.status !== 202) throw new Error(`initialize ${projectId}: ${res.status} ${JSON.stringify(res.body)}`)
  return (await firstStepStarted(base, projectId)) - t0
}

const startByEvent = async (base: string, repoUrl: string, projectId: string) => {
  const t0 = now()
  const res = await call(base, "POST", "/events", { workflow_type: "DEVTEAM_AUTOMATION", data: { projectId, repoUrl } })
  if (res.status !== 202) throw new Error(`POST /events ${projectId}: ${res.status} ${JSON.stringify(res.body)}`)
  return (await firstStepStarted(base, projectId)) - t0
}

/** `count` starts, `concurrency` at a time; the time to start of each. */
const starts = async (count: number, concurrency: number, start: (i: number) => Promise<number>) => {
  const samples: Array<number> = []
  for (let i = 0; i < count; i += concurrency) {
    const burst = Array.from({ length: Math.min(concurrency, count - i) }, (_, j) => start(i + j))
    samples.push(...(await Promise.all(burst)))
  }
  return summarize(samples)
}

const TERMINAL = new Set(["COMPLETED", "FAILED", "STOPPED"])

/**
 * Starts an execution by `POST /events` and polls its task_context and status until it ends:
 * the lag of every step completion (task_context) and of every status change (status).
 */
const watchExecution = async (base: string, repoUrl: string, projectId: string) => {
  const res = await call(base, "POST", "/events", { workflow_type: "DEVTEAM_AUTOMATION", data: { projectId, repoUrl } })
  const eventId = string(field(res.body, "event_id"))
  if (res.status !== 202 || eventId === undefined) throw new Error(`POST /events ${projectId}: ${res.status}`)
  const taskContextLags: Array<number> = []
  const statusLags: Array<number> = []
  const seenCompletions = new Set<string>()
  const seenUpdates = new Set<string>()
  let polls = 0
  const started = now()
  for (let done = false; !done;) {
    if (now() - started > 60_000) throw new Error(`${projectId}: did not finish within a minute`)
    const record = await call(base, "GET", `/events/${encodeURIComponent(eventId)}`)
    const seenAt = now()
    const nodes = field(field(record.body, "task_context"), "nodes")
    if (typeof nodes === "object" && nodes !== null) {
      for (const [name, node] of Object.entries(nodes)) {
        const completedAt = string(field(node, "completedAt"))
        if (completedAt === undefined || seenCompletions.has(`${name}@${completedAt}`)) continue
        seenCompletions.add(`${name}@${completedAt}`)
        taskContextLags.push(seenAt - Date.parse(completedAt))
      }
    }
    const status = await call(base, "GET", `/api/devteam/automation/status/${encodeURIComponent(projectId)}`)
    const statusSeenAt = now()
    const lastUpdate = string(field(status.body, "lastUpdate"))
    if (lastUpdate !== undefined && !seenUpdates.has(lastUpdate)) {
      seenUpdates.add(lastUpdate)
      statusLags.push(statusSeenAt - Date.parse(lastUpdate))
    }
    polls++
    done = TERMINAL.has(string(field(status.body, "status")) ?? "")
  }
  // the first status sample is the execution's start, not a change seen by polling
  return { taskContextLags, statusLags: statusLags.slice(1), pollIntervalMs: (now() - started) / polls }
}

/** Both services: room for every execution the bench starts; the repository is local. */
const config = { MAX_CONCURRENT_EXECUTIONS: "500", REPO_ALLOW_FILE: "true" }

export const run = async () => {
  const repo = bareRepository()
  try {
    // every execution stays in its first step (an hour long) once started: later starts are
    // measured beside parked executions, as on a service with many projects mid-task
    const timeToStartMs = await withInProcessService({
      name: "start_bench",
      steps: { tasks: 1, stepDuration: "1 hour" },
      config
    }, (base) =>
      Effect.promise(async () => {
        await starts(20, 5, (i) => startByInitialize(base, repo.url, `bench/warmup-${i}`))
        return {
          initializeSequential: await starts(50, 1, (i) => startByInitialize(base, repo.url, `bench/init-${i}`)),
          initializeBurstsOf10: await starts(50, 10, (i) => startByInitialize(base, repo.url, `bench/init10-${i}`)),
          eventsSequential: await starts(50, 1, (i) => startByEvent(base, repo.url, `bench/event-${i}`)),
          eventsBurstsOf10: await starts(50, 10, (i) => startByEvent(base, repo.url, `bench/event10-${i}`))
        }
      }))
    const projectionLagMs = await withInProcessService({
      name: "lag_bench",
      // steps of 20 ms: long enough for a poller to see each completion on its own
      steps: { tasks: 5, stepDuration: "20 millis" },
      config
    }, (base) =>
      Effect.promise(async () => {
        await watchExecution(base, repo.url, "bench/lag-warmup")
        const watched = await Promise.all(
          Array.from({ length: 3 }, (_, i) => watchExecution(base, repo.url, `bench/lag-${i}`))
        )
        return {
          executions: watched.length,
          taskContext: summarize(watched.flatMap((w) => w.taskContextLags)),
          status: summarize(watched.flatMap((w) => w.statusLags)),
          pollIntervalMs: Math.round((watched.reduce((sum, w) => sum + w.pollIntervalMs, 0) / watched.length) * 100) /
            100
        }
      }))
    return { timeToStartMs, projectionLagMs, targetMs: 50 }
  } finally {
    agent.destroy()
    Fs.rmSync(repo.root, { recursive: true, force: true })
  }
}
