/**
 * The pipeline end to end, in-process: the real `Project` entity (journal as commit point,
 * execution fiber, pause/stop/resume, injections) driving the real pipeline (git workspace, local
 * or docker sandbox, script tool, verifier) against real bare remotes, on a real (in-memory
 * PGlite) journal with its projections. The multi-process crash cases are in
 * packages/server/test/PipelineCrash.test.ts.
 */
import { branchName } from "@devteam/domain/Branch"
import { evolve } from "@devteam/domain/ExecutionMachine"
import { TaskId } from "@devteam/domain/Ids"
import { initial, progressOf } from "@devteam/domain/ProjectState"
import { InjectTaskRequest, InjectTaskSpec } from "@devteam/domain/TasksApi"
import { Journal } from "@devteam/runtime/Journal"
import { Projections } from "@devteam/runtime/Projections"
import { pushChange, remoteFile, remoteHead } from "@devteam/runtime/testing/GitRemote"
import { assert, layer } from "@effect/vitest"
import { Effect, Option } from "effect"
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import {
  checkedLines,
  commitSubjects,
  e2eConfig,
  finished,
  fourTaskList,
  fourTasks,
  initializePayload,
  mergedCommits,
  mergesOn,
  mergeSubjects,
  poll,
  pollToEnd,
  processesWith,
  storageLayer,
  subjectOf,
  taskStatuses,
  withProject
} from "./fixtures/E2E.js"
import { appendScript, dockerOwner, dockerReady, projectFiles, type SandboxChoice } from "./fixtures/Pipeline.js"

const LIST = "docs/DevTeam/tasks_list.md"
const get = { correlationId: "e2e-probe" }

/** The 4-task run, asserted on the remote, the journal, the status projection and task_context. */
const fourTaskRun = (sandbox: SandboxChoice) =>
  withProject("four", projectFiles(fourTaskList), ({ project, projectId, remote }) =>
    Effect.gen(function*() {
      const journal = yield* Journal
      const projections = yield* Projections
      const payload = initializePayload(
        e2eConfig(remote.url, { script: appendScript, verifyCommands: ["npm run build"] })
      )
      const started = yield* project.Initialize(payload)
      assert.strictEqual(started.status, "QUEUED")
      // ~10 s alone at load 6–9; over 60 s in a full suite at load ~10 (moving, only slowly)
      const final = yield* pollToEnd(project.GetState(get), { budget: "180 seconds" })
      assert.strictEqual(final.status, "COMPLETED", final.error?.message ?? "")
      assert.deepStrictEqual(final.completedInExecution.map(String), fourTasks.map((t) => t.id))
      assert.strictEqual(final.completedTasks, 4)
      assert.strictEqual(final.totalTasks, 4)

      // The remote: one --no-ff merge per task, in order, each merging that task's single commit.
      const bare = remote.bare
      assert.strictEqual(mergesOn(bare).length, 4)
      const merged = mergedCommits(bare)
      const subjects = mergeSubjects(bare)
      fourTasks.forEach((task, i) => {
        assert.strictEqual(branchName(TaskId.make(task.id), task.title), task.branch)
        assert.include(subjects[i] ?? "", task.branch, "the merge names the spec's branch")
        assert.strictEqual(subjectOf(bare, merged[i] ?? ""), `task ${task.id}: ${task.title}`)
        assert.strictEqual(remoteFile(bare, `notes/task-${task.id}.txt`), `done ${task.id}\n`)
      })
      // Every task commit and every tick exactly once on the base branch.
      const plain = commitSubjects(bare)
      for (const task of fourTasks) {
        assert.strictEqual(plain.filter((s) => s === `task ${task.id}: ${task.title}`).length, 1)
        assert.strictEqual(plain.filter((s) => s.startsWith(`${task.id}:`)).length, 1, `one tick for ${task.id}`)
      }
      const list = remoteFile(bare, LIST)
      assert.deepStrictEqual(checkedLines(list), fourTasks.map((t) => `- [x] ${t.id} ${t.title}`))
      assert.notInclude(list, "[ ]")

      // The journal: seqs 1..N, every step once (no retries), 7 steps × 4 tasks + the final SELECT.
      const entries = yield* journal.read(projectId, 0, 10_000)
      assert.deepStrictEqual(entries.map((e) => e.seq), entries.map((_, i) => i + 1))
      const events = entries.map((e) => e.event)
      const started_ = events.filter((e) => e._tag === "StepStarted")
      assert.strictEqual(started_.length, 4 * 7 + 1)
      assert.isTrue(started_.every((e) => e._tag === "StepStarted" && e.attempt === 1))
      assert.strictEqual(events.filter((e) => e._tag === "TaskListUpdated").length, 4)
      assert.deepStrictEqual(
        events.flatMap((e) => e._tag === "PrepCompleted" ? [e.branch] : []),
        fourTasks.map((t) => t.branch)
      )
      assert.strictEqual(events.filter((e) => e._tag === "ExecutionCompleted").length, 1)
      assert.strictEqual(events.at(-1)?._tag, "ExecutionCompleted")
      // Each SELECT logs its choice and ends within its first 100 ms: its line is journaled with its
      // outcome, in one transaction (one timestamp), not in an append of its own.
      const selected = entries.flatMap((e, i) => e.event._tag === "TaskSelected" ? [i] : [])
      assert.strictEqual(selected.length, 4)
      for (const i of selected) {
        const lines = entries[i - 1]
        assert.strictEqual(lines?.event._tag, "LogBatch")
        assert.strictEqual(lines?.ts, entries[i]?.ts, `seq ${lines?.seq}: SELECT's lines and its outcome`)
      }
      const pushes = events.flatMap((e) => e._tag === "TaskListUpdated" ? [e.commit] : [])
      assert.strictEqual(pushes.at(-1), remoteHead(bare), "the last tick is the remote's head")

      // The journal folds to the actor's state; the status projection and task_context agree.
      const reloaded = yield* journal.load(projectId)
      assert.deepStrictEqual(reloaded.state, final)
      const status = yield* projections.status(projectId)
      assert.isTrue(Option.isSome(status))
      if (Option.isSome(status)) {
        assert.strictEqual(status.value.status, "COMPLETED")
        assert.strictEqual(status.value.executionId, payload.executionId)
        assert.strictEqual(status.value.completedTasks, 4)
        assert.strictEqual(status.value.totalTasks, 4)
        assert.strictEqual(status.value.progress, 100)
      }
      const record = yield* projections.eventRecord(payload.eventId)
      assert.isTrue(Option.isSome(record), "the execution's event record (task_context) exists")
      if (Option.isSome(record)) {
        const context = record.value.task_context
        assert.strictEqual(context.metadata.executionId, payload.executionId)
        assert.strictEqual(context.metadata.projectId, projectId)
        const nodes = Object.entries(context.nodes)
        assert.strictEqual(nodes.length, 7)
        for (const [name, node] of nodes) assert.strictEqual(node?.status, "completed", name)
        assert.deepInclude(context.nodes.UpdateTaskListNode?.output, { taskId: "2.1.2" })
        assert.deepInclude(context.nodes.MergeNode?.output, { taskId: "2.1.2" })
      }
      const detail = yield* projections.execution(payload.executionId)
      assert.isTrue(Option.isSome(detail))
      if (Option.isSome(detail)) {
        assert.deepStrictEqual(detail.value.tasks.map((t) => String(t.taskId)), fourTasks.map((t) => t.id))
      }
      return { projectId, bare }
    }), sandbox)

// One journal per block (opening PGlite costs seconds): every test has projects of its own.
const onStorage = layer(storageLayer, { excludeTestServices: true, timeout: "120 seconds" })

onStorage("Pipeline end to end (in-process actor, local sandbox)", (it) => {
  it.scoped(
    "4 tasks across 2 phases run to COMPLETED: merges, ticks, branches, journal and projections agree",
    () => fourTaskRun("local"),
    { timeout: 210_000 }
  )

  const broken = { ...projectFiles(), "src/app.js": "console.log(\"app\") // BROKEN\n" }
  it.scoped(
    "a failing build FAILS (retrievable verify error, nothing merged); fixed on the remote, resume completes",
    () =>
      withProject("broken", broken, ({ project, projectId, remote }) =>
        Effect.gen(function*() {
          const journal = yield* Journal
          const projections = yield* Projections
          const payload = initializePayload(
            e2eConfig(remote.url, { script: appendScript, verifyCommands: ["npm run build"] })
          )
          yield* project.Initialize(payload)
          const failed = yield* poll(project.GetState(get), finished)
          assert.strictEqual(failed.status, "FAILED")
          const error = failed.error
          assert.isNotNull(error)
          if (error === null) return
          assert.strictEqual(error.category, "verify")
          assert.strictEqual(error.step, "VERIFY")
          assert.strictEqual(error.taskId, "1.1.1")
          const stored = yield* projections.error(payload.executionId, error.errorId)
          assert.isTrue(Option.isSome(stored), "the error is retrievable by execution and error id")
          if (Option.isSome(stored)) {
            assert.strictEqual(stored.value.category, "verify")
            assert.strictEqual(stored.value.attempts, 3, "the first implementation and two fixes")
            assert.include(stored.value.logs.join("\n"), "build error: BROKEN marker in src/app.js")
            assert.isAtMost(stored.value.logs.length, 40, "the failing command's last lines, once")
            assert.match(stored.value.message, /`npm run build` exited [1-9]/)
          }
          // Stop-on-error: nothing merged, pushed or ticked; no later step started.
          assert.strictEqual(mergesOn(remote.bare).length, 0)
          assert.notInclude(remoteFile(remote.bare, LIST), "[x]")
          const entries = yield* journal.read(projectId, 0, 10_000)
          assert.deepStrictEqual(entries.slice(-2).map((e) => e.event._tag), ["StepFailed", "ExecutionFailed"])
          assert.isFalse(entries.some((e) => e.event._tag === "StepStarted" && e.event.step === "MERGE"))
          const status = yield* projections.status(projectId)
          assert.strictEqual(Option.isSome(status) ? status.value.status : "none", "FAILED")
          assert.strictEqual(Option.isSome(status) ? status.value.error?.errorId : "none", error.errorId)

          // The repository is fixed on the remote's base branch; resume re-runs the failed step, which
          // must verify the task on the fixed base. (Fails today: VERIFY re-runs on the task branch as
          // PREP left it, forked from the broken base — see the suite's report.)
          pushChange({ remote: remote.bare, files: { "src/app.js": "console.log(\"app\")\n" }, message: "fix build" })
          // Let the failed execution's fiber wind down first (see the next case for a resume right away).
          yield* Effect.sleep("1500 millis")
          const resumed = yield* project.Resume(get)
          assert.notStrictEqual(resumed.status, "FAILED")
          const final = yield* poll(project.GetState(get), finished)
          assert.strictEqual(final.status, "COMPLETED", final.error?.message ?? "")
          assert.deepStrictEqual(final.completedInExecution.map(String), ["1.1.1", "1.1.2"])
          assert.strictEqual(mergesOn(remote.bare).length, 2)
          assert.strictEqual(checkedLines(remoteFile(remote.bare, LIST)).length, 2)
          assert.notInclude(remoteFile(remote.bare, "src/app.js"), "BROKEN")
        })),
    { timeout: 90_000 }
  )

  // Fails today: a Resume that reaches the actor while the failed loop's fiber is still winding
  // down (< 100 ms) is journaled, but `FiberHandle.run(..., { onlyIfMissing: true })` keeps the dying
  // fiber and no loop starts: QUEUED forever (`Wake` does not restart it either).
  it.scoped(
    "a resume sent right after FAILED is not lost: the failed step runs again and the execution completes",
    () =>
      withProject("resume-now", projectFiles(), ({ project, projectId, remote }) =>
        Effect.gen(function*() {
          const marker = Path.join(Os.tmpdir(), `devteam-e2e-once-${Math.random().toString(36).slice(2, 10)}`)
          yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(marker, { force: true })))
          const journal = yield* Journal
          // The first tool run fails (exit 1: a tool error); every later run does the work.
          const script =
            `if [ -f ${marker} ]; then ${appendScript}; else touch ${marker}; echo "tool error: no model" >&2; exit 1; fi`
          yield* project.Initialize(initializePayload(e2eConfig(remote.url, { script, verifyCommands: ["true"] })))
          const failed = yield* poll(project.GetState(get), finished)
          assert.strictEqual(failed.status, "FAILED")
          assert.strictEqual(failed.error?.category, "tool")
          const resumed = yield* project.Resume(get)
          assert.strictEqual(resumed.status, "QUEUED")
          const final = yield* poll(
            project.GetState(get),
            finished,
            "40 seconds"
          )
          assert.strictEqual(final.status, "COMPLETED", final.error?.message ?? "")
          const entries = yield* journal.read(projectId, 0, 10_000)
          const implementAttempts = entries.flatMap((e) =>
            e.event._tag === "StepStarted" && e.event.step === "IMPLEMENT" ? [e.event.attempt] : []
          )
          assert.deepStrictEqual(implementAttempts, [1, 2, 1], "IMPLEMENT of 1.1.1 re-run once, then 1.1.2")
          assert.strictEqual(mergesOn(remote.bare).length, 2)
        })),
    { timeout: 60_000 }
  )

  it.scoped(
    "pause mid-step takes effect at the next step boundary; resume continues to COMPLETED",
    () =>
      withProject("pause", projectFiles(), ({ project, projectId, remote }) =>
        Effect.gen(function*() {
          const journal = yield* Journal
          const projections = yield* Projections
          const payload = initializePayload(
            e2eConfig(remote.url, { script: `sleep 1; ${appendScript}`, verifyCommands: ["true"] })
          )
          yield* project.Initialize(payload)
          yield* poll(project.GetState(get), (s) => s.status === "IMPLEMENTING")
          const pausing = yield* project.Pause(get)
          assert.strictEqual(pausing.status, "IMPLEMENTING", "the step in flight is not interrupted")
          assert.isTrue(pausing.pauseRequested)
          const paused = yield* poll(project.GetState(get), (s) => s.status === "PAUSED")
          assert.strictEqual(paused.cursor?.step, "IMPLEMENT")
          assert.strictEqual(paused.cursor?.phase, "done", "IMPLEMENT finished before the pause")
          const seq = yield* journal.lastSeq(projectId)
          const entries = yield* journal.read(projectId, 0, 10_000)
          const tags = entries.map((e) => e.event._tag)
          assert.strictEqual(tags.at(-1), "ExecutionPaused")
          assert.include(tags.slice(-4), "ImplementCompleted")
          assert.isFalse(entries.some((e) => e.event._tag === "StepStarted" && e.event.step === "VERIFY"))
          // Nothing runs while paused.
          yield* Effect.sleep("400 millis")
          assert.strictEqual(yield* journal.lastSeq(projectId), seq)
          assert.strictEqual(mergesOn(remote.bare).length, 0)
          const status = yield* projections.status(projectId)
          assert.strictEqual(Option.isSome(status) ? status.value.status : "none", "PAUSED")

          yield* project.Resume(get)
          const final = yield* poll(project.GetState(get), finished)
          assert.strictEqual(final.status, "COMPLETED", final.error?.message ?? "")
          const after = yield* journal.read(projectId, seq, 10_000)
          assert.strictEqual(after[0]?.event._tag, "ExecutionResumed")
          const next = after.find((e) => e.event._tag === "StepStarted")
          assert.isTrue(
            next?.event._tag === "StepStarted" && next.event.step === "VERIFY",
            "resume continues at VERIFY"
          )
          assert.strictEqual(mergesOn(remote.bare).length, 2)
          assert.strictEqual(checkedLines(remoteFile(remote.bare, LIST)).length, 2)
        })),
    { timeout: 60_000 }
  )

  it.scoped(
    "stop mid-IMPLEMENT: STOPPED quickly, the tool's process is gone, nothing merged",
    () =>
      withProject("stop", projectFiles(), ({ project, projectId, remote }) =>
        Effect.gen(function*() {
          const marker = `devteam-e2e-stop-${Math.random().toString(36).slice(2, 10)}`
          const journal = yield* Journal
          yield* project.Initialize(initializePayload(
            e2eConfig(remote.url, { script: `echo started; sleep 30 # ${marker}`, verifyCommands: ["true"] })
          ))
          yield* poll(Effect.sync(() => processesWith(marker)), (pids) => pids.length > 0, "30 seconds")
          yield* Effect.sleep("300 millis") // the tool's first line is out
          const t0 = Date.now()
          const stopped = yield* project.Stop(get)
          const stopMs = Date.now() - t0
          assert.strictEqual(stopped.status, "STOPPED")
          assert.deepStrictEqual(processesWith(marker), [], "no tool process left alive")
          assert.isBelow(stopMs, 3_000, `stop took ${stopMs} ms`)
          const state = yield* project.GetState(get)
          assert.strictEqual(state.status, "STOPPED")
          yield* Effect.sleep("300 millis")
          const entries = yield* journal.read(projectId, 0, 10_000)
          const stopAt = entries.findIndex((e) => e.event._tag === "ExecutionStopped")
          assert.isAbove(stopAt, 0)
          // After the stop only the tool's last output lines may still be flushed; no step moves on.
          assert.deepStrictEqual(
            entries.slice(stopAt + 1).map((e) => e.event._tag).filter((t) => t !== "LogBatch"),
            []
          )
          assert.isTrue(
            entries.some((e) => e.event._tag === "LogBatch" && e.event.lines.some((l) => l.message === "started"))
          )
          assert.strictEqual(mergesOn(remote.bare).length, 0)
          assert.notInclude(remoteFile(remote.bare, LIST), "[x]")
          console.log(`[e2e] stop mid-IMPLEMENT answered STOPPED in ${stopMs} ms`)
        })),
    { timeout: 60_000 }
  )

  it.scoped(
    "stopPoint completes right after its task; injected tasks (priority, replace, positional) run in place",
    () =>
      withProject("inject", projectFiles(fourTaskList), ({ project, projectId, remote }) =>
        Effect.gen(function*() {
          const journal = yield* Journal
          const config = (stopPoint?: string) =>
            e2eConfig(remote.url, {
              script: appendScript,
              verifyCommands: ["true"],
              ...(stopPoint === undefined ? {} : { stopPoint })
            })

          // 1. stopPoint 1.1.1: COMPLETED right after it, later tasks untouched.
          const first = initializePayload(config("1.1.1"))
          yield* project.Initialize(first)
          const stoppedAt = yield* pollToEnd(project.GetState(get), { budget: "60 seconds" })
          assert.strictEqual(stoppedAt.status, "COMPLETED", stoppedAt.error?.message ?? "")
          assert.deepStrictEqual(stoppedAt.completedInExecution.map(String), ["1.1.1"])
          const firstEntries = yield* journal.read(projectId, 0, 10_000)
          const last = firstEntries.at(-1)?.event
          assert.isTrue(last?._tag === "ExecutionCompleted" && last.reason === "stop-point")
          assert.strictEqual(firstEntries.at(-2)?.event._tag, "TaskListUpdated")
          assert.strictEqual(
            firstEntries.filter((e) => e.event._tag === "StepStarted" && e.event.step === "SELECT").length,
            1,
            "no SELECT after the stop point"
          )
          assert.strictEqual(mergesOn(remote.bare).length, 1)
          assert.deepStrictEqual(checkedLines(remoteFile(remote.bare, LIST)), [
            "- [x] 1.1.1 Create the project skeleton"
          ])

          // 2. Three injections, one per mode.
          const inject = (request: Omit<ConstructorParameters<typeof InjectTaskRequest>[0], "projectId">) =>
            project.InjectTask({ ...get, request: new InjectTaskRequest({ projectId, ...request }) })
          const priority = yield* inject({
            mode: "priority",
            task: new InjectTaskSpec({ id: TaskId.make("E1"), title: "Urgent hotfix", description: "Fix it first" })
          })
          const replace = yield* inject({
            mode: "replace",
            replaceTaskId: TaskId.make("2.1.1"),
            task: new InjectTaskSpec({ id: TaskId.make("E2"), title: "Add a better greeting", description: "Instead" })
          })
          const positional = yield* inject({
            mode: "positional",
            afterTaskId: TaskId.make("1.1.2"),
            task: new InjectTaskSpec({ id: TaskId.make("E3"), title: "Write a changelog", description: "After 1.1.2" })
          })
          assert.deepStrictEqual([priority.taskId, replace.taskId, positional.taskId].map(String), ["E1", "E2", "E3"])
          const plan = yield* project.Plan(get)
          assert.deepStrictEqual(plan.order.map(String), ["E1", "1.1.2", "E3", "E2", "2.1.2"])

          // 3. A new execution runs them in place; the replaced task is skipped.
          const second = initializePayload(config())
          yield* project.Initialize(second)
          const final = yield* pollToEnd(project.GetState(get), { budget: "120 seconds" })
          assert.strictEqual(final.status, "COMPLETED", final.error?.message ?? "")
          assert.deepStrictEqual(final.completedInExecution.map(String), ["E1", "1.1.2", "E3", "E2", "2.1.2"])
          // the reported progress never went back although the list grew from 4 to 7 tasks
          let state = initial(projectId)
          const reported: Array<number> = []
          for (const entry of yield* journal.read(projectId, 0, 10_000)) {
            state = evolve(state, entry.event)
            if (state.executionId === second.executionId) reported.push(progressOf(state))
          }
          assert.isTrue(reported.every((p, i) => i === 0 || p >= (reported[i - 1] ?? 0)), reported.join(" "))
          assert.strictEqual(reported.at(-1), 100)
          assert.strictEqual(mergesOn(remote.bare).length, 6)
          // Each injected task is written into the file, ticked, where it ran; the replaced task stays.
          const list = remoteFile(remote.bare, LIST)
          assert.strictEqual(
            list,
            fourTaskList
              .replace("  - [ ] 1.1.1", "  - [x] 1.1.1")
              .replace("  - [ ] 1.1.2 Add a README\n", "  - [x] E1 Urgent hotfix (injected)\n    Fix it first\n$&")
              .replace(
                "  - [ ] 1.1.2 Add a README\n",
                "  - [x] 1.1.2 Add a README\n  - [x] E3 Write a changelog (injected)\n    After 1.1.2\n"
              )
              .replace("  - [ ] 2.1.2", "  - [x] E2 Add a better greeting (injected)\n    Instead\n  - [x] 2.1.2")
          )
          assert.deepStrictEqual(
            taskStatuses(list, true),
            [
              "1.1.1:completed",
              "E1:completed",
              "1.1.2:completed",
              "E3:completed",
              "2.1.1:pending",
              "E2:completed",
              "2.1.2:completed"
            ]
          )
          // the journal still has the replaced task skipped: nothing is left to do
          const after = yield* project.Plan(get)
          assert.deepStrictEqual([after.order.length, after.blocked.length, after.diagnostics.length], [0, 0, 0])
          const figures = yield* project.NextTask({ ...get, refresh: true, excludeCompleted: true })
          assert.deepStrictEqual([figures.totalTasks, figures.completedTasks, figures.progress], [7, 7, 100])
          const merged = mergedCommits(remote.bare).map((c) => subjectOf(remote.bare, c))
          assert.deepStrictEqual(merged, [
            "task 1.1.1: Create the project skeleton",
            "task E1: Urgent hotfix",
            "task 1.1.2: Add a README",
            "task E3: Write a changelog",
            "task E2: Add a better greeting",
            "task 2.1.2: Document the greeting"
          ])
          assert.isFalse(commitSubjects(remote.bare).some((s) => s.startsWith("task 2.1.1")), "2.1.1 never ran")
        })),
    { timeout: 240_000 }
  )
})

onStorage("Pipeline end to end (in-process actor, docker sandbox)", (it) => {
  it.scoped(
    "4 tasks across 2 phases run to COMPLETED in one container, removed afterwards",
    () =>
      Effect.gen(function*() {
        yield* dockerReady
        const { projectId } = yield* fourTaskRun({ docker: dockerOwner("test-e2e") })
        const containers = () =>
          execFileSync("docker", ["ps", "-a", "-q", "--filter", `label=devteam.project=${projectId}`], {
            encoding: "utf8"
          }).split("\n").filter((l) => l !== "")
        yield* poll(Effect.sync(containers), (ids) => ids.length === 0, "20 seconds", "200 millis")
      }),
    { timeout: 240_000 }
  )
})
