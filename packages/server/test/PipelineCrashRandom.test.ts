/**
 * Crash at any point, at random: the service process (ROLE=all on a fresh Postgres database, the
 * real pipeline, local sandbox, script tool) is SIGKILLed at least 20 times at random moments
 * (uniformly 0.3–2.5 s after each "runner ready", from a seeded PRNG) while it works through a
 * 10-task list, and started again each time with the same DATA_DIR/WORKSPACE_DIR/database. The
 * test sends no message between kills: the wake-up loop resumes the execution by itself. When an
 * execution completes before enough kills happened, another one starts on a second remote.
 *
 * At the end every execution is COMPLETED, its journal has seqs 1..n and follows the step grammar
 * (a step cut by a kill may start again, its outcome is journaled exactly once), and its remote has
 * exactly one task commit, one --no-ff merge and one tick per task, each tool output applied once.
 *
 * Replay a kill schedule with PIPELINE_CRASH_SEED=<seed> (printed first). The schedule is
 * reproducible; the machine's timing is not, so a failure may need a few runs with its seed.
 */
import { branchName } from "@devteam/domain/Branch"
import { ExecutionConfig, VerifyConfig } from "@devteam/domain/ExecutionConfig"
import { CustomerId, EventId, ExecutionId, ProjectId, TaskId } from "@devteam/domain/Ids"
import { Project } from "@devteam/runner/ProjectEntity"
import * as GitHttpServer from "@devteam/runtime/testing/GitHttpServer"
import { git, makeBareRemote, remoteFile, tempDir } from "@devteam/runtime/testing/GitRemote"
import { SqlClient } from "@effect/sql"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Schedule } from "effect"
import { randomUUID } from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as ClusterClient from "./fixtures/ClusterClient.js"
import * as FreshDatabase from "./fixtures/FreshDatabase.js"
import * as Ports from "./fixtures/Ports.js"
import { killPids, processesWith } from "./fixtures/Processes.js"
import * as RunnerProcess from "./fixtures/RunnerProcess.js"

const MIN_KILLS = 20
/** Kills that must land while a step of the killed process was running (else the test is vacuous). */
const MIN_MID_STEP_KILLS = 15
/** Kills go on past MIN_KILLS until MIN_MID_STEP_KILLS landed mid-step, up to this many and this long. */
const MAX_KILLS = 24
const EXTRA_KILLS_UNTIL_MS = 150_000
const DELAY_MIN_MS = 300
const DELAY_MAX_MS = 2_500
/** Added to the delay per consecutive kill in the same step. */
const STREAK_STEP_MS = 700

const seedFromEnv = Number(process.env.PIPELINE_CRASH_SEED ?? "NaN")
const seed = Number.isInteger(seedFromEnv) ? seedFromEnv >>> 0 : Math.floor(Math.random() * 2 ** 32)

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
const prng = (initial: number) => {
  let a = initial >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const database = FreshDatabase.make("devteam_crashrnd")

const [runnerPort = 0, httpPort = 0] = await Ports.reserve(2)

const clusterClient = ClusterClient.layer(database.url, runnerPort + 1)

const sections = [
  {
    id: "1.1",
    deps: "",
    titles: [
      "Create the project skeleton",
      "Add a README",
      "Add a licence",
      "Add a changelog",
      "Add a contributing guide"
    ]
  },
  {
    id: "1.2",
    deps: "1.1",
    titles: ["Add the login page", "Add the signup page", "Add the profile page", "Add the settings page", "Add logout"]
  }
] as const
const tasks = sections.flatMap((s) =>
  s.titles.map((title, i) => {
    const id = TaskId.make(`${s.id}.${i + 1}`)
    return { id, title, branch: branchName(id, title) }
  })
)
const taskList = `# Tasks

Phase 1: Foundations

${
  sections.map((s) =>
    [
      `- ${s.id} Part ${s.id} (Dependencies: [${s.deps}])`,
      ...s.titles.map((title, i) => `  - [ ] ${s.id}.${i + 1} ${title}`)
    ].join("\n")
  ).join("\n")
}
`

const PASSWORD = "crash-random-password-9012"

// ---------------------------------------------------------------------------------------------
// The journal, as the test reads it
// ---------------------------------------------------------------------------------------------

interface JournalRow {
  readonly seq: number
  readonly type: string
  readonly step: string | null
  readonly task_id: string | null
  readonly attempt: number | null
  readonly at: string | null
}

const stepOrder: ReadonlyArray<string> = ["SELECT", "PREP", "IMPLEMENT", "VERIFY", "MERGE", "PUSH", "UPDATE_TASKLIST"]
const completionOf: Readonly<Record<string, string>> = {
  SELECT: "TaskSelected",
  PREP: "PrepCompleted",
  IMPLEMENT: "ImplementCompleted",
  VERIFY: "VerifyCompleted",
  MERGE: "MergeCompleted",
  PUSH: "PushCompleted",
  UPDATE_TASKLIST: "TaskListUpdated"
}
const completionTypes = Object.values(completionOf)

const describeRow = (r: JournalRow) =>
  `#${r.seq} ${r.type}${r.step === null ? "" : ` ${r.step}`}${r.task_id === null ? "" : ` task=${r.task_id}`}${
    r.attempt === null ? "" : ` attempt=${r.attempt}`
  }`

/**
 * What is wrong with an execution's journal (LogBatch entries excluded): it must read
 * ExecutionInitialized, then per task SELECT → … → UPDATE_TASKLIST where each step is one or more
 * StepStarted (attempts 1, 2, … — a step cut by a crash starts again) followed by exactly one
 * outcome event of that step, and finally a SELECT that ends in ExecutionCompleted.
 */
const journalViolations = (rows: ReadonlyArray<JournalRow>): Array<string> => {
  const violations: Array<string> = []
  const first = rows[0]
  if (first === undefined || first.type !== "ExecutionInitialized") {
    violations.push(`the journal does not start with ExecutionInitialized: ${first ? describeRow(first) : "empty"}`)
  }
  let expected: string = "SELECT"
  let running: { step: string; attempt: number } | null = null
  let currentTask: string | null = null
  for (const row of rows.slice(1)) {
    const bad = (why: string) => violations.push(`${describeRow(row)}: ${why}`)
    if (expected === "DONE") {
      bad("an event after ExecutionCompleted")
    } else if (row.type === "StepStarted") {
      if (running === null) {
        if (row.step !== expected) bad(`expected ${expected} to start`)
        if (row.attempt !== 1) bad("a fresh step must start at attempt 1")
      } else if (row.step !== running.step || row.attempt !== running.attempt + 1) {
        bad(`${running.step} attempt ${running.attempt} was running: only its next attempt may start`)
      }
      if (row.step !== "SELECT" && row.task_id !== currentTask) bad(`the selected task is ${currentTask}`)
      running = { step: row.step ?? "?", attempt: row.attempt ?? 0 }
    } else if (row.type === "ExecutionCompleted") {
      if (running?.step !== "SELECT") bad("the execution completes only from a running SELECT")
      running = null
      expected = "DONE"
    } else if (running !== null && row.type === completionOf[running.step]) {
      if (row.type === "TaskSelected") currentTask = row.task_id
      else if (row.task_id !== currentTask) bad(`the selected task is ${currentTask}`)
      const next = stepOrder.indexOf(running.step) + 1
      expected = stepOrder[next % stepOrder.length] ?? "SELECT"
      running = null
    } else {
      bad(`unexpected here (running: ${running === null ? "nothing" : `${running.step}#${running.attempt}`})`)
    }
  }
  if (expected !== "DONE") violations.push("the journal does not end with ExecutionCompleted")
  return violations
}

// ---------------------------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------------------------

interface Run {
  readonly name: string
  readonly projectId: ProjectId
  readonly executionId: ExecutionId
  readonly bare: string
  /** Kills that had happened when it was started. */
  readonly startedAfterKills: number
}

interface Kill {
  readonly n: number
  readonly run: string
  readonly delayMs: number
  /** The step that was running in the killed process, or why none was. */
  readonly at: string
  readonly midStep: boolean
  readonly lastEvent: string
  readonly orphans: number
  readonly restartMs: number
}

describe("pipeline crash at random moments (service process SIGKILLed ≥ 20 times, real Postgres)", () => {
  it("the journal check accepts a re-run step and rejects a duplicated, lost or out-of-order event", () => {
    let seq = 0
    const row = (type: string, step: string | null, taskId: string | null, attempt: number | null): JournalRow => ({
      seq: ++seq,
      type,
      step,
      task_id: taskId,
      attempt,
      at: null
    })
    const oneTask = (id: string, rerun: string | null) =>
      stepOrder.flatMap((step) => [
        row("StepStarted", step, step === "SELECT" ? null : id, 1),
        ...(step === rerun ? [row("StepStarted", step, step === "SELECT" ? null : id, 2)] : []),
        row(completionOf[step] ?? "?", null, id, null)
      ])
    const valid = [
      row("ExecutionInitialized", null, null, null),
      ...oneTask("1.1.1", "MERGE"),
      ...oneTask("1.1.2", null),
      row("StepStarted", "SELECT", "1.1.2", 1),
      row("ExecutionCompleted", null, null, null)
    ]
    assert.deepStrictEqual(journalViolations(valid), [])
    const merge = valid.findIndex((r) => r.type === "MergeCompleted")
    const duplicated = [...valid.slice(0, merge + 1), valid[merge], ...valid.slice(merge + 1)].flatMap((r) =>
      r === undefined ? [] : [r]
    )
    assert.isNotEmpty(journalViolations(duplicated))
    assert.isNotEmpty(journalViolations(valid.filter((_, i) => i !== merge)))
    assert.isNotEmpty(journalViolations(valid.filter((r) => !(r.type === "StepStarted" && r.step === "PUSH"))))
    assert.isNotEmpty(journalViolations(valid.map((r) => r.attempt === 2 ? { ...r, attempt: 3 } : r)))
    assert.isNotEmpty(journalViolations(valid.slice(0, -1)))
  })

  it.live(
    "every execution completes by itself; no event lost or duplicated, nothing committed or applied twice",
    () =>
      Effect.gen(function*() {
        console.log(`[pipeline-crash-random] seed=${seed} (replay with PIPELINE_CRASH_SEED=${seed})`)
        const random = prng(seed)
        const t0 = Date.now()
        const root = yield* tempDir("devteam-crashrnd-")
        const served = Path.join(root, "served")
        const server = yield* GitHttpServer.make({ root: served, username: "runner", password: PASSWORD })

        const marker = `crashrnd-${randomUUID().slice(0, 8)}`
        yield* Effect.addFinalizer(() => Effect.sync(() => killPids(processesWith(marker))))
        // The marker is in the shell's command line and in the environment of everything it starts.
        const script = `export DEVTEAM_CRASH_MARKER=${marker}; mkdir -p notes && sleep 0.3 && ` +
          `echo "done $DEVTEAM_TASK_ID" >> "notes/task-$DEVTEAM_TASK_ID.txt"`

        const dataDir = Path.join(root, "data")
        const workspaceDir = Path.join(root, "workspaces")
        const logFile = Path.join(root, "runner.log")
        const runner = yield* RunnerProcess.make({
          ROLE: "all",
          DATABASE_URL: database.url,
          DEVTEAM_RUNNER_HOST: "127.0.0.1",
          DEVTEAM_RUNNER_PORT: String(httpPort),
          RUNNER_HOST: "127.0.0.1",
          RUNNER_PORT: String(runnerPort),
          DATA_DIR: dataDir,
          WORKSPACE_DIR: workspaceDir,
          SANDBOX: "local",
          GIT_USERNAME: "runner",
          GIT_TOKEN: PASSWORD,
          GIT_HOSTS: server.host,
          // the test's git server listens on 127.0.0.1
          REPO_ALLOW_PRIVATE: "true",
          WAKEUP_INTERVAL: "1 second",
          PIPELINE_RETRY_BASE: "100 millis",
          LOG_FORMAT: "json",
          LOG_LEVEL: "info"
        }, { logFile, readyTimeoutMs: 90_000 })
        const firstStartMs = yield* runner.start

        const sql = yield* SqlClient.SqlClient
        const client = yield* Project.client

        const journalOf = (projectId: ProjectId) =>
          sql<JournalRow>`SELECT seq::int AS seq, type, data->>'step' AS step,
              COALESCE(data->>'taskId', data->'task'->>'id') AS task_id, (data->>'attempt')::int AS attempt,
              data->>'at' AS at
            FROM journal WHERE project_id = ${projectId} AND type <> 'LogBatch' ORDER BY seq`
        const lastEvent = (projectId: ProjectId) =>
          Effect.map(
            sql<JournalRow>`SELECT seq::int AS seq, type, data->>'step' AS step,
                COALESCE(data->>'taskId', data->'task'->>'id') AS task_id, (data->>'attempt')::int AS attempt,
                data->>'at' AS at
              FROM journal WHERE project_id = ${projectId} AND type <> 'LogBatch' ORDER BY seq DESC LIMIT 1`,
            (rows) => rows[0]
          )
        const maxSeq = (projectId: ProjectId) =>
          Effect.map(
            sql<{ max: number | null }>`SELECT max(seq)::int AS max FROM journal WHERE project_id = ${projectId}`,
            (rows) => rows[0]?.max ?? 0
          )
        const statusOf = (projectId: ProjectId) =>
          Effect.map(
            sql<{ status: string }>`SELECT status FROM project_status WHERE project_id = ${projectId}`,
            (rows) => rows[0]?.status ?? "none"
          )

        const runs: Array<Run> = []
        const kills: Array<Kill> = []
        const startRun = Effect.gen(function*() {
          const name = `project-${runs.length + 1}`
          const bare = makeBareRemote({
            root: served,
            name: `${name}.git`,
            files: { "README.md": "# Demo\n", "docs/DevTeam/tasks_list.md": taskList }
          })
          const run: Run = {
            name,
            projectId: ProjectId.make(`crashrnd/${name}-${randomUUID().slice(0, 8)}`),
            executionId: ExecutionId.make(randomUUID()),
            bare,
            startedAfterKills: kills.length
          }
          yield* client(run.projectId).Initialize({
            correlationId: `crashrnd-init-${name}`,
            executionId: run.executionId,
            eventId: EventId.make(randomUUID()),
            config: new ExecutionConfig({
              repoUrl: server.url(`${name}.git`),
              baseBranch: "main",
              taskListPath: "docs/DevTeam/tasks_list.md",
              tool: "script",
              script,
              verify: new VerifyConfig({ commands: ["true"] }),
              customerId: CustomerId.make("crashrnd")
            })
          }).pipe(Effect.retry({ times: 60, schedule: Schedule.spaced("500 millis") }), Effect.timeout("60 seconds"))
          runs.push(run)
          return run
        })

        /** Printed when something goes wrong: the kills, and the tail of each journal. */
        const diagnostics = Effect.gen(function*() {
          const lines = [`seed=${seed}`, ...kills.map((k) => JSON.stringify(k))]
          for (const run of runs) {
            const rows = yield* journalOf(run.projectId)
            lines.push(`${run.name} ${run.projectId} status=${yield* statusOf(run.projectId)}:`)
            lines.push(...rows.slice(-40).map((r) => `  ${describeRow(r)}`))
          }
          const kept = Path.join(Os.tmpdir(), `pipeline-crash-random-${seed}.log`)
          yield* Effect.sync(() => Fs.copyFileSync(logFile, kept)).pipe(Effect.ignore)
          lines.push(`runner log kept at ${kept}`)
          console.log(`[pipeline-crash-random] diagnostics\n${lines.join("\n")}`)
        })

        // The kills. After each one the service is started again and left alone.
        let current = yield* startRun
        /** Every journal entry of the current run up to here was written before this incarnation. */
        let seqBeforeIncarnation = 0
        const restartMs: Array<number> = []
        let sameStepStreak = 0
        const moreKills = () =>
          kills.length < MIN_KILLS ||
          (midStepCount(kills) < MIN_MID_STEP_KILLS && kills.length < MAX_KILLS &&
            Date.now() - t0 < EXTRA_KILLS_UNTIL_MS)
        while (moreKills()) {
          if ((yield* statusOf(current.projectId)) === "COMPLETED") {
            current = yield* startRun
            seqBeforeIncarnation = 0
          }
          // Each kill in the same step as the one before waits a little longer, so that a step slower
          // than the delay range (IMPLEMENT under load) still completes and the kills spread across steps.
          const delayMs = Math.round(DELAY_MIN_MS + random() * (DELAY_MAX_MS - DELAY_MIN_MS)) +
            sameStepStreak * STREAK_STEP_MS
          yield* Effect.sleep(Duration.millis(delayMs))
          yield* runner.kill("SIGKILL")
          // The sandbox's processes die with the machine they ran on: the killed process's tool, if any.
          const orphans = processesWith(marker)
          killPids(orphans)
          // The killed process wrote nothing more: this is exactly what was in flight.
          const last = yield* lastEvent(current.projectId)
          const midStep = last !== undefined && last.type === "StepStarted" && last.seq > seqBeforeIncarnation
          const at = midStep
            ? (last?.step ?? "?")
            : last?.type === "ExecutionCompleted"
            ? "(completed)"
            : "(no step running yet)"
          seqBeforeIncarnation = yield* maxSeq(current.projectId)
          const ms = yield* runner.start
          restartMs.push(ms)
          kills.push({
            n: kills.length + 1,
            run: current.name,
            delayMs,
            at,
            midStep,
            lastEvent: last === undefined ? "none" : describeRow(last),
            orphans: orphans.length,
            restartMs: ms
          })
          const previous = kills.at(-2)
          sameStepStreak = midStep && previous !== undefined && previous.midStep && previous.at === at
            ? sameStepStreak + 1
            : 0
        }
        const lastKillAt = Date.now()

        // No message from the test: the wake-up loop must resume every execution. (Bounded so that the
        // report below is printed before vitest's timeout.)
        const deadline = Date.now() + Math.min(90_000, Math.max(30_000, 405_000 - (Date.now() - t0)))
        let statuses: Array<string> = []
        while (Date.now() < deadline) {
          statuses = yield* Effect.forEach(runs, (run) => statusOf(run.projectId))
          if (statuses.every((s) => s === "COMPLETED")) break
          yield* Effect.sleep("200 millis")
        }
        const lastKillToCompletedMs = Date.now() - lastKillAt

        const perStep: Record<string, number> = {}
        for (const kill of kills) perStep[kill.at] = (perStep[kill.at] ?? 0) + 1
        // Re-runs per step, and how long an uninterrupted step takes (kills land in a step ∝ its length).
        const reruns: Record<string, Record<string, number>> = {}
        const durations: Record<string, Array<number>> = {}
        for (const run of runs) {
          const counts: Record<string, number> = {}
          const rows = yield* journalOf(run.projectId)
          rows.forEach((r, i) => {
            const step = r.step ?? "?"
            if (r.type === "StepStarted" && (r.attempt ?? 0) > 1) counts[step] = (counts[step] ?? 0) + 1
            const next = rows[i + 1]
            if (r.type === "StepStarted" && next !== undefined && next.type === completionOf[step]) {
              const ms = Date.parse(next.at ?? "") - Date.parse(r.at ?? "")
              if (Number.isFinite(ms)) durations[step] = [...(durations[step] ?? []), ms]
            }
          })
          reruns[run.name] = counts
        }
        const stepMsAvg = Object.fromEntries(
          Object.entries(durations).map(([step, ms]) => [step, Math.round(ms.reduce((a, b) => a + b, 0) / ms.length)])
        )
        const summary = {
          seed,
          kills: kills.length,
          midStepKills: midStepCount(kills),
          perStep,
          executions: runs.map((r) => ({ name: r.name, startedAfterKills: r.startedAfterKills })),
          reruns,
          stepMsAvg,
          orphansReaped: kills.reduce((n, k) => n + k.orphans, 0),
          firstStartMs,
          restartMsAvg: Math.round(restartMs.reduce((a, b) => a + b, 0) / Math.max(1, restartMs.length)),
          restartMsMax: Math.max(0, ...restartMs),
          lastKillToCompletedMs,
          totalMs: Date.now() - t0
        }
        console.log(`[pipeline-crash-random] ${JSON.stringify(summary)}`)
        console.log(
          `[pipeline-crash-random] kills (delay after ready → step running): ${
            kills.map((k) => `${k.n}:${k.run}+${k.delayMs}ms→${k.midStep ? k.lastEvent : k.at}`).join(" ")
          }`
        )

        // Check everything first, then report all of it at once.
        const problems: Array<string> = []
        if (kills.length < MIN_KILLS) problems.push(`only ${kills.length} kills`)
        if (summary.midStepKills < MIN_MID_STEP_KILLS) {
          problems.push(`only ${summary.midStepKills} of ${kills.length} kills landed while a step was running`)
        }
        runs.forEach((run, i) => {
          if (statuses[i] !== "COMPLETED") problems.push(`${run.name}: ${statuses[i]}, not COMPLETED`)
        })
        for (const run of runs) {
          const p = (what: string) => problems.push(`${run.name}: ${what}`)
          // The journal: seqs 1..n, the step grammar, one outcome of each step per task.
          const seqs = yield* sql<{ seq: number }>`SELECT seq::int AS seq FROM journal
            WHERE project_id = ${run.projectId} ORDER BY seq`
          const gaps = seqs.filter((r, i) => r.seq !== i + 1)
          if (gaps.length > 0) p(`journal seqs are not 1..${seqs.length}: first off at ${gaps[0]?.seq}`)
          const rows = yield* journalOf(run.projectId)
          for (const v of journalViolations(rows)) p(`journal ${v}`)
          for (const task of tasks) {
            for (const type of completionTypes) {
              const n = rows.filter((r) => r.type === type && r.task_id === task.id).length
              if (n !== 1) p(`${n} × ${type} for ${task.id}`)
            }
          }
          const failed = rows.filter((r) => r.type === "StepFailed")
          if (failed.length > 0) p(`StepFailed: ${failed.map(describeRow).join(", ")}`)

          // The remote: one task commit, one --no-ff merge (of that commit) and one tick per task.
          const bare = run.bare
          const mergeSubjects = git(bare, ["log", "--merges", "--format=%s", "main"]).split("\n").filter((l) =>
            l !== ""
          )
          if (mergeSubjects.length !== tasks.length) p(`${mergeSubjects.length} merge commits on main`)
          const plain = git(bare, ["log", "--no-merges", "--format=%s", "main"]).split("\n").filter((l) => l !== "")
          if (plain.length !== 1 + 2 * tasks.length) {
            p(`${plain.length} non-merge commits on main: ${plain.join(" | ")}`)
          }
          const merges = git(bare, ["log", "--merges", "--reverse", "--format=%P", "main"]).split("\n").filter((l) =>
            l !== ""
          )
          const mergedSubjects = merges.map((parents) =>
            git(bare, ["log", "-1", "--format=%s", parents.split(" ")[1] ?? ""]).trim()
          )
          const list = remoteFile(bare, "docs/DevTeam/tasks_list.md")
          for (const task of tasks) {
            const count = (subjects: ReadonlyArray<string>, subject: string) =>
              subjects.filter((s) => s === subject).length
            const mergeCount = count(mergeSubjects, `Merge branch '${task.branch}' into main`)
            if (mergeCount !== 1) p(`${mergeCount} merges of ${task.branch}`)
            const taskCommit = `task ${task.id}: ${task.title}`
            if (count(plain, taskCommit) !== 1) p(`${count(plain, taskCommit)} × "${taskCommit}"`)
            if (count(mergedSubjects, taskCommit) !== 1) {
              p(`"${taskCommit}" merged ${count(mergedSubjects, taskCommit)}×`)
            }
            const tick = `${task.id}: mark completed`
            if (count(plain, tick) !== 1) p(`${count(plain, tick)} × "${tick}"`)
            const note = yield* Effect.try(() => remoteFile(bare, `notes/task-${task.id}.txt`)).pipe(
              Effect.orElseSucceed(() => "(missing)")
            )
            if (note !== `done ${task.id}\n`) p(`notes/task-${task.id}.txt is ${JSON.stringify(note)}`)
            if (!list.includes(`- [x] ${task.id} ${task.title}\n`)) p(`${task.id} is not ticked in the task list`)
          }
          if (list.includes("[ ]")) p("the task list still has unticked tasks")
        }
        const leftovers = processesWith(marker)
        if (leftovers.length > 0) problems.push(`leftover script processes: ${leftovers.join(", ")}`)

        if (problems.length > 0) {
          console.log(`[pipeline-crash-random] problems (seed=${seed})\n${problems.join("\n")}`)
          yield* diagnostics
        }
        assert.deepStrictEqual(problems, [], `seed=${seed}`)
        assert.isAtLeast(kills.length, MIN_KILLS)
        assert.isAtLeast(summary.midStepKills, MIN_MID_STEP_KILLS)
        assert.isAbove(
          Object.keys(perStep).filter((k) => !k.startsWith("(")).length,
          1,
          "kills landed in one step only"
        )
      }).pipe(Effect.scoped, Effect.provide(clusterClient), Effect.provide(database.layer)),
    { timeout: 420_000 }
  )
})

function midStepCount(kills: ReadonlyArray<Kill>): number {
  return kills.filter((k) => k.midStep).length
}
