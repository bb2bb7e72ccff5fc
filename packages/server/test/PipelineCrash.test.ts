/**
 * Crash at any point, for real: the service process (ROLE=all on a fresh Postgres database, the
 * real pipeline, local sandbox, script tool) is SIGKILLed during IMPLEMENT, between MERGE and PUSH
 * (the push held open by the git server) and during UPDATE_TASKLIST (its push held), and started
 * again each time with the same DATA_DIR/WORKSPACE_DIR. The execution must complete by itself (the
 * wake-up loop; the test sends no message after Initialize) with every commit, merge and tick on
 * the remote exactly once and a journal without gaps or duplicates.
 */
import { ExecutionConfig, VerifyConfig } from "@devteam/domain/ExecutionConfig"
import { CustomerId, EventId, ExecutionId, ProjectId } from "@devteam/domain/Ids"
import { Project } from "@devteam/runner/ProjectEntity"
import * as GitHttpServer from "@devteam/runtime/testing/GitHttpServer"
import { git, makeBareRemote, remoteFile, tempDir } from "@devteam/runtime/testing/GitRemote"
import { SqlClient } from "@effect/sql"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import { randomUUID } from "node:crypto"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as ClusterClient from "./fixtures/ClusterClient.js"
import * as FreshDatabase from "./fixtures/FreshDatabase.js"
import * as Ports from "./fixtures/Ports.js"
import { killPids, processesWith } from "./fixtures/Processes.js"
import * as RunnerProcess from "./fixtures/RunnerProcess.js"

const database = FreshDatabase.make("devteam_crash")
const dbUrl = database.url
const freshDatabase = database.layer

const [runnerPort = 0, httpPort = 0] = await Ports.reserve(2)

const clusterClient = ClusterClient.layer(dbUrl, runnerPort + 1)

const taskList = `# Tasks

Phase 1: Foundations

- 1.1 Setup (Dependencies: [])
  - [ ] 1.1.1 Create the project skeleton
  - [ ] 1.1.2 Add a README
  - [ ] 1.1.3 Add a licence
`
const tasks = [
  { id: "1.1.1", title: "Create the project skeleton", branch: "task/1-1-1-create-the-project-skeleton" },
  { id: "1.1.2", title: "Add a README", branch: "task/1-1-2-add-a-readme" },
  { id: "1.1.3", title: "Add a licence", branch: "task/1-1-3-add-a-licence" }
] as const

const PASSWORD = "crash-test-password-5678"

describe("pipeline crash at any point (service process SIGKILLed and restarted, real Postgres)", () => {
  it.live(
    "SIGKILL during IMPLEMENT, between MERGE and PUSH, during UPDATE_TASKLIST: completes by itself, nothing twice",
    () =>
      Effect.gen(function*() {
        const root = yield* tempDir("devteam-crash-")
        const served = Path.join(root, "served")
        const bare = makeBareRemote({
          root: served,
          name: "project.git",
          files: { "README.md": "# Demo\n", "docs/DevTeam/tasks_list.md": taskList }
        })

        // Receive-pack POSTs (pushes) can be held open while the test kills the process.
        let holding = false
        const held: Array<() => void> = []
        const server = yield* GitHttpServer.make({
          root: served,
          username: "runner",
          password: PASSWORD,
          beforeServe: ({ method, path }) =>
            holding && method === "POST" && path.endsWith("/git-receive-pack")
              ? new Promise<void>((resolve) => held.push(resolve))
              : Promise.resolve()
        })
        const releaseAll = () => {
          holding = false
          for (const release of held.splice(0)) release()
        }
        yield* Effect.addFinalizer(() => Effect.sync(releaseAll))

        const marker = Path.join(root, `hang-once-${randomUUID().slice(0, 8)}`)
        yield* Effect.addFinalizer(() => Effect.sync(() => killPids(processesWith(marker))))
        // 1.1.1's first tool run writes its change, then hangs (the process is killed meanwhile).
        const script = `mkdir -p notes && echo "done $DEVTEAM_TASK_ID" >> "notes/task-$DEVTEAM_TASK_ID.txt"; ` +
          `if [ "$DEVTEAM_TASK_ID" = "1.1.1" ] && [ ! -f ${marker} ]; then touch ${marker}; sleep 60; fi`

        const dataDir = Path.join(root, "data")
        const workspaceDir = Path.join(root, "workspaces")
        const runner = yield* RunnerProcess.make({
          ROLE: "all",
          DATABASE_URL: dbUrl,
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
        }, { logFile: Path.join(root, "runner.log"), readyTimeoutMs: 90_000 })
        const timings: Record<string, number> = {}
        timings["firstStartMs"] = yield* runner.start

        const sql = yield* SqlClient.SqlClient
        const client = yield* Project.client
        const projectId = ProjectId.make(`crash/p-${randomUUID().slice(0, 8)}`)
        const executionId = ExecutionId.make(randomUUID())
        yield* client(projectId).Initialize({
          correlationId: "crash-init",
          executionId,
          eventId: EventId.make(randomUUID()),
          config: new ExecutionConfig({
            repoUrl: server.url("project.git"),
            baseBranch: "main",
            taskListPath: "docs/DevTeam/tasks_list.md",
            tool: "script",
            script,
            verify: new VerifyConfig({ commands: ["true"] }),
            customerId: CustomerId.make("crash")
          })
        }).pipe(Effect.retry({ times: 40, schedule: Schedule.spaced("500 millis") }), Effect.timeout("60 seconds"))

        const lastStep = Effect.map(
          sql<{ step: string | null }>`SELECT data->>'step' AS step FROM journal
            WHERE project_id = ${projectId} AND type = 'StepStarted' ORDER BY seq DESC LIMIT 1`,
          (rows) => rows[0]?.step ?? null
        )
        const lastType = Effect.map(
          sql<{ type: string }>`SELECT type FROM journal
            WHERE project_id = ${projectId} AND type <> 'LogBatch' ORDER BY seq DESC LIMIT 1`,
          (rows) => rows[0]?.type ?? null
        )
        const waitFor = (what: string, check: Effect.Effect<boolean, unknown>, timeoutMs = 60_000) =>
          Effect.gen(function*() {
            const deadline = Date.now() + timeoutMs
            while (!(yield* check)) {
              if (Date.now() > deadline) {
                return yield* Effect.dieMessage(`timed out waiting for ${what}; last step ${yield* lastStep}`)
              }
              yield* Effect.sleep("50 millis")
            }
          })
        /** Holds pushes until one is held while `step` runs (others are let through). */
        const holdPushDuring = (step: string) =>
          Effect.gen(function*() {
            holding = true
            const deadline = Date.now() + 60_000
            while (Date.now() < deadline) {
              if (held.length > 0) {
                if ((yield* lastStep) === step) return
                for (const release of held.splice(0)) release()
              }
              yield* Effect.sleep("25 millis")
            }
            return yield* Effect.dieMessage(`no push held during ${step}`)
          })
        const restart = (name: string, options: { readonly leaveOrphans?: boolean } = {}) =>
          Effect.gen(function*() {
            yield* runner.kill("SIGKILL")
            // the killed process's orphaned tool, if any (as if the machine had died with it)
            if (options.leaveOrphans !== true) killPids(processesWith(marker))
            releaseAll() // the held push reaches git-http-backend only now, from a dead client
            timings[`${name}RestartMs`] = yield* runner.start
          })

        // 1. During IMPLEMENT of 1.1.1 (the tool is running).
        yield* waitFor("the tool to hang", Effect.sync(() => Fs.existsSync(marker)))
        assert.strictEqual(yield* lastStep, "IMPLEMENT")
        // Only the service dies this time: its tool keeps running, orphaned. The restarted service
        // must kill it before it runs IMPLEMENT again, or two tools would work on one tree.
        assert.isNotEmpty(processesWith(marker))
        yield* restart("implement", { leaveOrphans: true })
        yield* waitFor(
          "IMPLEMENT to run again",
          Effect.map(
            sql<{ n: number }>`SELECT count(*)::int AS n FROM journal
              WHERE project_id = ${projectId} AND type = 'StepStarted' AND data->>'step' = 'IMPLEMENT'`,
            (rows) => (rows[0]?.n ?? 0) >= 2
          )
        )
        yield* waitFor("the orphaned tool to be killed", Effect.sync(() => processesWith(marker).length === 0), 5_000)

        // 2. Between MERGE and PUSH: MergeCompleted journaled, the push held at the remote.
        yield* holdPushDuring("PUSH")
        assert.strictEqual(yield* lastType, "StepStarted")
        const merged = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM journal
          WHERE project_id = ${projectId} AND type = 'MergeCompleted'`
        assert.isAbove(merged[0]?.n ?? 0, 0)
        yield* restart("push")

        // 3. During UPDATE_TASKLIST: the tick's push held at the remote.
        yield* holdPushDuring("UPDATE_TASKLIST")
        yield* restart("tick")

        // No message from the test: the wake-up loop must resume the execution.
        const restartedAt = Date.now()
        yield* waitFor(
          "COMPLETED",
          Effect.map(
            sql<{ status: string }>`SELECT status FROM project_status WHERE project_id = ${projectId}`,
            (rows) => rows[0]?.status === "COMPLETED"
          ),
          90_000
        )
        timings["lastRestartToCompletedMs"] = Date.now() - restartedAt

        // The remote: one merge per task, each merging that task's one commit; one tick each.
        const merges = git(bare, ["log", "--merges", "--reverse", "--format=%P", "main"]).split("\n").filter((l) =>
          l !== ""
        )
        assert.strictEqual(merges.length, 3, "one merge per task")
        const mergedSubjects = merges.map((parents) =>
          git(bare, ["log", "-1", "--format=%s", parents.split(" ")[1] ?? ""]).trim()
        )
        assert.deepStrictEqual(mergedSubjects, tasks.map((t) => `task ${t.id}: ${t.title}`))
        const plain = git(bare, ["log", "--no-merges", "--format=%s", "main"]).split("\n")
        for (const task of tasks) {
          assert.strictEqual(plain.filter((s) => s === `task ${task.id}: ${task.title}`).length, 1, task.id)
          assert.strictEqual(plain.filter((s) => s.startsWith(`${task.id}:`)).length, 1, `one tick for ${task.id}`)
          assert.strictEqual(remoteFile(bare, `notes/task-${task.id}.txt`), `done ${task.id}\n`)
        }
        const list = remoteFile(bare, "docs/DevTeam/tasks_list.md")
        assert.strictEqual(list.split("[x]").length - 1, 3)
        assert.notInclude(list, "[ ]")

        // Each task branch (in the project's work tree) holds exactly one task commit. (The other
        // directory is the repository's shared cache, for task-list reads.)
        const repos = Fs.readdirSync(workspaceDir).filter((d) =>
          d.includes("-") && Fs.existsSync(Path.join(workspaceDir, d, ".git"))
        )
        assert.strictEqual(repos.length, 1)
        const repo = Path.join(workspaceDir, repos[0] ?? "")
        for (const task of tasks) {
          const subjects = git(repo, ["log", "--format=%s", task.branch]).split("\n")
          assert.strictEqual(subjects.filter((s) => s.startsWith(`task ${task.id}:`)).length, 1, task.branch)
        }

        // The journal: no event lost or duplicated.
        const rows = yield* sql<
          { n: number; max: number; ticks: number; merges: number; pushes: number; done: number }
        >`
          SELECT count(*)::int AS n, max(seq)::int AS max,
            count(*) FILTER (WHERE type = 'TaskListUpdated')::int AS ticks,
            count(*) FILTER (WHERE type = 'MergeCompleted')::int AS merges,
            count(*) FILTER (WHERE type = 'PushCompleted')::int AS pushes,
            count(*) FILTER (WHERE type = 'ExecutionCompleted')::int AS done
          FROM journal WHERE project_id = ${projectId}`
        const row = rows[0]
        assert.isDefined(row)
        if (row === undefined) return
        assert.strictEqual(row.n, row.max, "seqs 1..N without gap or duplicate")
        assert.strictEqual(row.ticks, 3)
        assert.strictEqual(row.merges, 3)
        assert.strictEqual(row.pushes, 3)
        assert.strictEqual(row.done, 1)
        const rerun = yield* sql<{ step: string }>`SELECT data->>'step' AS step FROM journal
          WHERE project_id = ${projectId} AND type = 'StepStarted' AND (data->>'attempt')::int > 1 ORDER BY seq`
        assert.deepStrictEqual(rerun.map((r) => r.step), ["IMPLEMENT", "PUSH", "UPDATE_TASKLIST"])
        // Whether a held push reached the remote from the dead process (the re-run then finds it done).
        const outcomes = yield* sql<{ type: string; already: string | null; commit: string | null }>`SELECT type,
            data->>'alreadyPushed' AS already, data->>'commit' AS commit FROM journal
          WHERE project_id = ${projectId} AND type IN ('PushCompleted', 'TaskListUpdated') ORDER BY seq`
        console.log(`[pipeline-crash] ${JSON.stringify({ ...timings, outcomes })}`)
      }).pipe(Effect.scoped, Effect.provide(clusterClient), Effect.provide(freshDatabase)),
    { timeout: 200_000 }
  )
})
