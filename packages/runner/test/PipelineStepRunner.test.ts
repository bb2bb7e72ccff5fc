import { branchName } from "@devteam/domain/Branch"
import { ExecutionCommand } from "@devteam/domain/ExecutionCommand"
import { expectedStep } from "@devteam/domain/ExecutionMachine"
import { TaskId } from "@devteam/domain/Ids"
import { InjectedTask, TaskPatch } from "@devteam/domain/Injection"
import type { StepOutcome } from "@devteam/domain/JournalEvent"
import { Task } from "@devteam/domain/Task"
import * as GitHttpServer from "@devteam/runtime/testing/GitHttpServer"
import {
  git,
  isAncestor,
  makeBareRemote,
  pushChange,
  remoteFile,
  remoteHead,
  tempDir
} from "@devteam/runtime/testing/GitRemote"
import { Workspace } from "@devteam/runtime/Workspace"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Logger, LogLevel, Option, Redacted, Scope } from "effect"
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { mergesOn, processCommandLines, subjectOf, taskStatuses } from "./fixtures/E2E.js"
import {
  appendScript,
  canarySecret,
  dockerOwner,
  dockerReady,
  executionConfig,
  expectOutcome,
  hotfixInjection,
  listen,
  makeDriver,
  makeRemote,
  modelKey,
  outcomeOf,
  pipelineLayer,
  projectFiles,
  taskList
} from "./fixtures/Pipeline.js"

const quiet = Logger.minimumLogLevel(LogLevel.Warning)

/** Runs `body` with the pipeline over a fresh remote (files) and workspace dir. */
const withPipeline = <A, E, R>(
  files: Record<string, string>,
  body: (remote: { readonly url: string; readonly bare: string; readonly workspaceDir: string }) => Effect.Effect<
    A,
    E,
    R
  >,
  sandbox: Parameters<typeof pipelineLayer>[1] = "local"
) =>
  Effect.gen(function*() {
    const remote = yield* makeRemote(files)
    return yield* body(remote).pipe(Effect.provide(Layer.merge(pipelineLayer(remote.workspaceDir, sandbox), quiet)))
  })

describe("PipelineStepRunner", () => {
  it.scopedLive("a full task SELECT → UPDATE_TASKLIST, then the next one, then Finished", () =>
    withPipeline(projectFiles(), ({ bare, url }) =>
      Effect.gen(function*() {
        const driver = yield* makeDriver(executionConfig(url))
        const outcomes = yield* driver.task

        const selected = outcomeOf(outcomes, "TaskSelected")
        assert.strictEqual(selected.task.id, "1.1.1")
        assert.strictEqual(selected.totalTasks, 2)
        assert.strictEqual(selected.completedTasks, 0)

        const prep = outcomeOf(outcomes, "PrepCompleted")
        const expectedBranch = branchName(TaskId.make("1.1.1"), "Create the project skeleton")
        assert.strictEqual(prep.branch, expectedBranch)
        assert.strictEqual(prep.branch, "task/1-1-1-create-the-project-skeleton")
        assert.isTrue(prep.branchCreated)

        const implement = outcomeOf(outcomes, "ImplementCompleted")
        assert.isTrue(implement.artifact.success)
        assert.strictEqual(implement.artifact.tool, "script")
        assert.deepStrictEqual([...implement.artifact.outputs.filesModified], ["notes/task-1.1.1.txt"])
        assert.isNotNull(implement.commit)

        const verify = outcomeOf(outcomes, "VerifyCompleted")
        assert.isTrue(verify.result.success)
        assert.include(verify.result.artifacts.buildOutput, "$ npm ci")
        assert.include(verify.result.artifacts.buildOutput, "build ok")

        const merge = outcomeOf(outcomes, "MergeCompleted")
        assert.isFalse(merge.alreadyMerged)
        const push = outcomeOf(outcomes, "PushCompleted")
        assert.isFalse(push.alreadyPushed)
        const updated = outcomeOf(outcomes, "TaskListUpdated")
        assert.isNotNull(updated.commit)
        assert.strictEqual(updated.completedTasks, 1)
        assert.strictEqual(updated.totalTasks, 2)

        // The remote: one --no-ff merge of the task commit, then the tick, pushed.
        const merges = mergesOn(bare)
        assert.strictEqual(merges.length, 1)
        const parents = git(bare, ["rev-list", "--parents", "-n", "1", merges[0] ?? ""]).trim().split(" ")
        assert.strictEqual(parents.length, 3)
        assert.strictEqual(parents[2], implement.commit)
        assert.strictEqual(subjectOf(bare, implement.commit ?? ""), "task 1.1.1: Create the project skeleton")
        assert.strictEqual(remoteHead(bare), updated.commit)
        assert.include(remoteFile(bare, "docs/DevTeam/tasks_list.md"), "- [x] 1.1.1 Create the project skeleton")
        assert.include(remoteFile(bare, "docs/DevTeam/tasks_list.md"), "- [ ] 1.1.2 Add a README")
        assert.strictEqual(remoteFile(bare, "notes/task-1.1.1.txt"), "done 1.1.1\n")

        // Execution logs: tool/sandbox lines and step messages, in batches of at most 200.
        const messages = driver.logs.map((l) => l.message)
        assert.isTrue(messages.some((m) => m.includes("build ok")))
        assert.isTrue(messages.some((m) => m.startsWith("PREP: branch task/1-1-1")))
        assert.isTrue(driver.batches.every((n) => n > 0 && n <= 200))

        // The next task, then nothing left.
        const second = yield* driver.task
        assert.strictEqual(outcomeOf(second, "TaskSelected").task.id, "1.1.2")
        assert.strictEqual(outcomeOf(second, "TaskSelected").completedTasks, 1)
        assert.strictEqual(outcomeOf(second, "TaskListUpdated").completedTasks, 2)
        assert.strictEqual(mergesOn(bare).length, 2)
        const finished = yield* driver.attempt("SELECT")
        assert.strictEqual(finished._tag, "Finished")
        driver.record(finished)
        assert.strictEqual(driver.state().status, "COMPLETED")
      })))

  it.scopedLive("every step re-run after its work is done (a crash before the journal) is a no-op", () =>
    withPipeline(projectFiles(), ({ bare, url }) =>
      Effect.gen(function*() {
        const workspace = yield* Workspace
        const driver = yield* makeDriver(executionConfig(url, { verifyCommands: ["npm run build"] }))
        const select = yield* driver.stepTwice("SELECT")
        assert.strictEqual(expectOutcome(select.first, "TaskSelected").task.id, "1.1.1")
        assert.deepStrictEqual(
          expectOutcome(select.second, "TaskSelected").task,
          expectOutcome(select.first, "TaskSelected").task
        )

        const prep = yield* driver.stepTwice("PREP")
        const prepFirst = expectOutcome(prep.first, "PrepCompleted")
        assert.isTrue(prepFirst.branchCreated)
        const prepSecond = expectOutcome(prep.second, "PrepCompleted")
        assert.isFalse(prepSecond.branchCreated)
        const repoPath = prepSecond.repoPath
        const branch = prepSecond.branch

        const implement = yield* driver.stepTwice("IMPLEMENT")
        const implementFirst = expectOutcome(implement.first, "ImplementCompleted")
        const implementSecond = expectOutcome(implement.second, "ImplementCompleted")
        assert.strictEqual(implementSecond.commit, implementFirst.commit)
        assert.deepStrictEqual([...implementSecond.artifact.outputs.filesModified], ["notes/task-1.1.1.txt"])
        // One commit ahead of the base, and the tool ran once.
        assert.strictEqual(git(repoPath, ["rev-list", "--count", `main..${branch}`]).trim(), "1")
        assert.strictEqual(Fs.readFileSync(`${repoPath}/notes/task-1.1.1.txt`, "utf8"), "done 1.1.1\n")
        assert.isTrue(driver.logs.some((l) => l.message.includes("tool not run again")))
        const diff = yield* workspace.diffSummary({ repoPath, branch, baseBranch: "main" })
        assert.strictEqual(diff.linesChanged, 1)

        const verify = yield* driver.stepTwice("VERIFY")
        const verifySecond = expectOutcome(verify.second, "VerifyCompleted")
        assert.isTrue(verifySecond.result.success)

        const merge = yield* driver.stepTwice("MERGE")
        const mergeFirst = expectOutcome(merge.first, "MergeCompleted")
        assert.isFalse(mergeFirst.alreadyMerged)
        const mergeSecond = expectOutcome(merge.second, "MergeCompleted")
        assert.isTrue(mergeSecond.alreadyMerged)
        assert.strictEqual(mergeSecond.mergeCommit, mergeFirst.mergeCommit)

        const push = yield* driver.stepTwice("PUSH")
        const pushFirst = expectOutcome(push.first, "PushCompleted")
        assert.isFalse(pushFirst.alreadyPushed)
        const pushSecond = expectOutcome(push.second, "PushCompleted")
        assert.isTrue(pushSecond.alreadyPushed)

        const tick = yield* driver.stepTwice("UPDATE_TASKLIST")
        const tickFirst = expectOutcome(tick.first, "TaskListUpdated")
        assert.isNotNull(tickFirst.commit)
        const tickSecond = expectOutcome(tick.second, "TaskListUpdated")
        assert.isNull(tickSecond.commit)
        assert.strictEqual(tickSecond.completedTasks, 1)
        assert.strictEqual(remoteHead(bare), tickFirst.commit)

        assert.strictEqual(mergesOn(bare).length, 1)
        const list = remoteFile(bare, "docs/DevTeam/tasks_list.md")
        assert.strictEqual(list.split("[x]").length - 1, 1)
        assert.strictEqual(driver.state().completedTasks, 1)
      })))

  it.scopedLive(
    "a build that stays broken: IMPLEMENT runs again with the failure (VERIFY_RETRIES = 2), then a verify error naming the command, its output once",
    () =>
      withPipeline(projectFiles(), ({ url }) =>
        Effect.gen(function*() {
          const driver = yield* makeDriver(
            executionConfig(url, { script: "echo '// BROKEN' >> src/app.js", verifyCommands: ["npm run build"] })
          )
          yield* driver.step("SELECT")
          yield* driver.step("PREP")
          for (const attempt of [1, 2]) {
            yield* driver.step("IMPLEMENT")
            const verdict = expectOutcome(yield* driver.step("VERIFY"), "VerifyCompleted")
            assert.isFalse(verdict.result.success)
            assert.strictEqual(verdict.result.attempts[0]?.attempt, attempt)
            assert.strictEqual(driver.state().failedVerification?.failedCommand?.command, "npm run build")
            assert.strictEqual(driver.state().cursor?.step, "VERIFY")
            assert.strictEqual(expectedStep(driver.state()), "IMPLEMENT", "the fix loop goes back to IMPLEMENT")
          }
          yield* driver.step("IMPLEMENT")
          const error = yield* driver.fails("VERIFY")
          assert.strictEqual(error.category, "verify")
          assert.strictEqual(error.step, "VERIFY")
          assert.strictEqual(error.taskId, "1.1.1")
          assert.strictEqual(error.executionId, driver.state().executionId)
          assert.strictEqual(error.projectId, driver.projectId)
          assert.match(error.errorId, /^[0-9a-f-]{36}$/)
          assert.strictEqual(error.attempts, 3)
          const logs = error.logs.join("\n")
          assert.include(logs, "build error: BROKEN marker in src/app.js")
          assert.isAtMost(error.logs.length, 40, "the failing command's last lines, once")
          assert.strictEqual(logs.split("$ npm run build").length - 1, 0, "no attempt transcripts repeated")
          assert.match(error.message, /after 3 attempts: command 1 `npm run build` exited [1-9]/)
          assert.include(
            JSON.stringify(error.details),
            "\"failedCommand\":{\"name\":\"command 1\",\"command\":\"npm run build\""
          )
          assert.strictEqual(driver.state().status, "FAILED")
          // every attempt journaled with its result
          const journal = driver.journal().flatMap((e) =>
            e._tag === "VerifyCompleted" ? [e.result.attempts[0]?.attempt] : []
          )
          assert.deepStrictEqual(journal, [1, 2])
        }))
  )

  it.scopedLive(
    "the fix loop: the first implementation breaks the build, the second prompt holds the failure and fixes it",
    () =>
      withPipeline(projectFiles(), ({ url }) =>
        Effect.gen(function*() {
          const promptCopy = Path.join(Os.tmpdir(), `devteam-fix-prompt-${Math.random().toString(36).slice(2)}.md`)
          yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(promptCopy, { force: true })))
          // A stand-in for the agent (the script tool): it fixes only when told what failed.
          const script =
            `if grep -q "Previous attempt failed verification" "$DEVTEAM_PROMPT_FILE"; then cp "$DEVTEAM_PROMPT_FILE" ${promptCopy}; echo 'console.log("fixed")' > src/app.js; else echo '// BROKEN' >> src/app.js; fi`
          const driver = yield* makeDriver(executionConfig(url, { script, verifyCommands: ["npm run build"] }))
          yield* driver.step("SELECT")
          yield* driver.step("PREP")
          const first = expectOutcome(yield* driver.step("IMPLEMENT"), "ImplementCompleted")
          const failed = expectOutcome(yield* driver.step("VERIFY"), "VerifyCompleted")
          assert.isFalse(failed.result.success)
          const second = expectOutcome(yield* driver.step("IMPLEMENT"), "ImplementCompleted")
          assert.notStrictEqual(second.commit, first.commit, "a new implementation on top of the first")
          assert.notStrictEqual(second.artifact.promptHash, first.artifact.promptHash)
          const passed = expectOutcome(yield* driver.step("VERIFY"), "VerifyCompleted")
          assert.isTrue(passed.result.success)
          assert.strictEqual(passed.result.attempts[0]?.attempt, 2)
          assert.isNull(driver.state().failedVerification)
          const prompt = Fs.readFileSync(promptCopy, "utf8")
          assert.include(prompt, "## Previous attempt failed verification (attempt 1 of 3)")
          assert.include(prompt, "Failing command: `npm run build` (exit 1)")
          assert.include(prompt, "build error: BROKEN marker in src/app.js")
          yield* driver.step("MERGE")
          yield* driver.step("PUSH")
          yield* driver.step("UPDATE_TASKLIST")
          assert.deepStrictEqual(driver.state().completedInExecution, [TaskId.make("1.1.1")])
        }))
  )

  it.scopedLive("a merge conflict is a git error naming the files", () =>
    withPipeline(projectFiles(), ({ bare, url }) =>
      Effect.gen(function*() {
        const workspace = yield* Workspace
        const driver = yield* makeDriver(
          executionConfig(url, { script: "echo 'console.log(\"task\")' > src/app.js", verifyCommands: ["true"] })
        )
        yield* driver.step("SELECT")
        yield* driver.step("PREP")
        yield* driver.step("IMPLEMENT")
        yield* driver.step("VERIFY")
        // The remote's base moved on with a conflicting edit, and the workspace fetched it.
        pushChange({ remote: bare, files: { "src/app.js": "console.log(\"other\")\n" }, message: "other edit" })
        yield* workspace.sync({ repoUrl: url, project: driver.projectId, baseBranch: "main" })
        const error = yield* driver.fails("MERGE")
        assert.strictEqual(error.category, "git")
        assert.include(error.message, "src/app.js")
        assert.deepInclude(error.details, { files: ["src/app.js"] })
        assert.strictEqual(error.attempts, 1)
        assert.strictEqual(mergesOn(bare).length, 0)
      })))

  it.scopedLive("a list whose tasks wait on each other fails blocked-by-dependencies", () => {
    const cyclic = `# Tasks

Phase 1: A

- 1.1 G (Dependencies: [2.1])
  - [ ] 1.1.1 First
Phase 2: B

- 2.1 H (Dependencies: [1.1])
  - [ ] 2.1.1 Second
`
    return withPipeline(projectFiles(cyclic), ({ url }) =>
      Effect.gen(function*() {
        const driver = yield* makeDriver(executionConfig(url))
        const error = yield* driver.fails("SELECT")
        assert.strictEqual(error.category, "blocked-by-dependencies")
        assert.isNull(error.taskId)
        assert.include(error.message, "1.1.1 waits on 2.1")
        assert.include(error.message, "2.1.1 waits on 1.1")
        assert.deepStrictEqual(error.details, {
          blockers: [{ taskId: "1.1.1", waitingOn: ["2.1"] }, { taskId: "2.1.1", waitingOn: ["1.1"] }]
        })
      }))
  })

  it.scopedLive("nothing left to do → Finished", () =>
    withPipeline(projectFiles(taskList.replaceAll("[ ]", "[x]")), ({ url }) =>
      Effect.gen(function*() {
        const driver = yield* makeDriver(executionConfig(url))
        const result = yield* driver.attempt("SELECT")
        assert.strictEqual(result._tag, "Finished")
        // the figures of a list that was complete before the execution started
        assert.deepStrictEqual(
          result._tag === "Finished" ? [result.totalTasks, result.completedTasks] : [],
          [2, 2]
        )
      })))

  it.scopedLive("an injected task is written into the task list, ticked, by the commit that ticks it", () =>
    withPipeline(projectFiles(), ({ bare, url }) =>
      Effect.gen(function*() {
        const driver = yield* makeDriver(executionConfig(url, { verifyCommands: ["true"] }), {
          injections: [hotfixInjection]
        })
        const outcomes = yield* driver.task
        assert.strictEqual(outcomeOf(outcomes, "TaskSelected").task.id, "E1")
        assert.strictEqual(outcomeOf(outcomes, "TaskSelected").totalTasks, 3)
        assert.strictEqual(outcomeOf(outcomes, "PrepCompleted").branch, "task/E1-hotfix")
        const updated = outcomeOf(outcomes, "TaskListUpdated")
        assert.strictEqual(updated.completedTasks, 1)
        // priority: written before the first task still to do, in its group, with its description
        const list = remoteFile(bare, "docs/DevTeam/tasks_list.md")
        assert.strictEqual(
          list,
          taskList.replace(
            "  - [ ] 1.1.1",
            "  - [x] E1 Hotfix (injected)\n    An urgent fix\n  - [ ] 1.1.1"
          )
        )
        assert.deepStrictEqual(taskStatuses(list), [
          "1:pending",
          "1.1:pending",
          "E1:completed",
          "1.1.1:pending",
          "1.1.2:pending"
        ])
        assert.strictEqual(updated.commit, remoteHead(bare))
        assert.strictEqual(git(bare, ["log", "-1", "--format=%s", "main"]).trim(), "E1: mark completed")
        assert.strictEqual(git(bare, ["rev-parse", "main~1"]).trim(), outcomeOf(outcomes, "PushCompleted").commit)
        assert.strictEqual(mergesOn(bare).length, 1)
        assert.strictEqual(remoteFile(bare, "notes/task-E1.txt"), "done E1\n")
        // The next SELECT moves on to the file's first task.
        const next = expectOutcome(yield* driver.step("SELECT"), "TaskSelected")
        assert.strictEqual(next.task.id, "1.1.1")
        assert.strictEqual(next.completedTasks, 1)
      })))

  it.scopedLive("a PUT edit of another task goes into the file with the next task's tick, once", () =>
    withPipeline(projectFiles(), ({ bare, url }) =>
      Effect.gen(function*() {
        const driver = yield* makeDriver(executionConfig(url, { verifyCommands: ["true"] }))
        // as PUT /repository/tasks/{projectId}/1.1.2 journals it (the actor's UpdateTask)
        driver.apply(ExecutionCommand.UpdateTask({
          taskId: TaskId.make("1.1.2"),
          patch: new TaskPatch({
            title: "Write the README",
            description: "Usage.\n- [ ] 9.9.9 Not a task\n# Not a heading"
          }),
          at: new Date().toISOString()
        }))
        const outcomes: Array<StepOutcome> = []
        for (const name of ["SELECT", "PREP", "IMPLEMENT", "VERIFY", "MERGE", "PUSH"] as const) {
          outcomes.push(yield* driver.step(name))
        }
        assert.strictEqual(outcomeOf(outcomes, "TaskSelected").task.id, "1.1.1")
        // a crash after the commit but before the journal: the step runs again and writes nothing more
        const tick = yield* driver.stepTwice("UPDATE_TASKLIST")
        const first = expectOutcome(tick.first, "TaskListUpdated")
        assert.strictEqual(first.commit, remoteHead(bare))
        const updated = expectOutcome(tick.second, "TaskListUpdated")
        assert.isNull(updated.commit)
        assert.strictEqual(remoteHead(bare), first.commit)
        const list = remoteFile(bare, "docs/DevTeam/tasks_list.md")
        assert.strictEqual(
          list,
          taskList
            .replace("- [ ] 1.1.1", "- [x] 1.1.1")
            .replace(
              "- [ ] 1.1.2 Add a README\n",
              "- [ ] 1.1.2 Write the README\n    Usage.\n    \\- [ ] 9.9.9 Not a task\n    \\# Not a heading\n"
            )
        )
        assert.deepStrictEqual(taskStatuses(list), [
          "1:pending",
          "1.1:pending",
          "1.1.1:completed",
          "1.1.2:pending"
        ])
        // the title is in the file now; the description reads escaped, so the journal keeps its own text
        assert.deepStrictEqual(updated.editsInFile?.map(([id, patch]) => [id, patch.title]), [[
          "1.1.2",
          "Write the README"
        ]])
        assert.deepStrictEqual(driver.state().patches.map(([id, patch]) => [id, patch.title, patch.description]), [[
          "1.1.2",
          undefined,
          "Usage.\n- [ ] 9.9.9 Not a task\n# Not a heading"
        ]])
        // the next task runs under its new title; its tick writes nothing else
        const second = yield* driver.task
        assert.strictEqual(outcomeOf(second, "TaskSelected").task.title, "Write the README")
        assert.strictEqual(
          remoteFile(bare, "docs/DevTeam/tasks_list.md"),
          list.replace("- [ ] 1.1.2", "- [x] 1.1.2")
        )
      })))

  it.scopedLive("aider gets the model key (redacted everywhere), git and verify commands do not", () =>
    withPipeline(projectFiles(), ({ url }) =>
      Effect.gen(function*() {
        const injection = new InjectedTask({
          task: new Task({
            id: TaskId.make("E2"),
            title: "Write notes",
            description: "Write the notes. FAKE_AIDER_MODE: leak",
            type: "atomic",
            dependencies: [],
            files: ["docs/notes.md"],
            criteria: {},
            phase: 1,
            status: "pending"
          }),
          mode: "priority",
          order: 1
        })
        const driver = yield* makeDriver(executionConfig(url, { tool: "aider", verifyCommands: ["env"] }), {
          injections: [injection]
        })
        yield* driver.step("SELECT")
        yield* driver.step("PREP")
        const implement = expectOutcome(yield* driver.step("IMPLEMENT"), "ImplementCompleted")
        assert.deepStrictEqual([...implement.artifact.outputs.filesModified], ["docs/notes.md"])
        assert.include(implement.artifact.outputs.stdout, "using key [REDACTED]")
        assert.include(implement.artifact.outputs.stdout, "git credential in env: no")
        assert.include(implement.artifact.outputs.stdout, "model: fake-model")
        const verify = expectOutcome(yield* driver.step("VERIFY"), "VerifyCompleted")
        const verifyLog = verify.result.attempts.map((a) => a.log).join("\n")
        assert.include(verifyLog, "CI=true")
        assert.notInclude(verifyLog, "OPENAI_API_KEY")
        assert.notInclude(verifyLog, modelKey)
        assert.isTrue(driver.logs.some((l) => l.message.includes("using key [REDACTED]")))
        assert.isFalse(driver.logs.some((l) => l.message.includes(modelKey)))
      })))

  it.scopedLive("the execution's model (the project's setting) is the one the agent runs with", () =>
    withPipeline(projectFiles(), ({ url }) =>
      Effect.gen(function*() {
        const driver = yield* makeDriver(executionConfig(url, { tool: "aider", model: "project-model-3" }))
        yield* driver.step("SELECT")
        yield* driver.step("PREP")
        const implement = expectOutcome(yield* driver.step("IMPLEMENT"), "ImplementCompleted")
        assert.include(implement.artifact.outputs.stdout, "model: project-model-3")
        assert.notInclude(implement.artifact.outputs.stdout, "model: fake-model")
      })))

  it.scopedLive("a tool run that changes nothing is a tool error with onNoChange: fail", () =>
    withPipeline(projectFiles(), ({ url }) =>
      Effect.gen(function*() {
        const driver = yield* makeDriver(executionConfig(url, { script: "echo nothing to do", onNoChange: "fail" }))
        yield* driver.step("SELECT")
        yield* driver.step("PREP")
        const error = yield* driver.fails("IMPLEMENT")
        assert.strictEqual(error.category, "tool")
        assert.include(error.message, "changed nothing")
        assert.include(error.logs.join("\n"), "nothing to do")
        assert.strictEqual(error.attempts, 1)
      })))

  it.scopedLive(
    "a task with nothing to change completes (empty artifact, a note) when verification passes; a (manual) task is skipped with a note",
    () =>
      withPipeline(
        projectFiles(`# Tasks

Phase 1: Foundations

- 1.1 Setup (Dependencies: [])
  - [ ] 1.1.1 Execute smoke test and verify the build passes
  - [ ] 1.1.2 Start worker service and tail logs (manual)
  - [ ] 1.1.3 Add a README section
`),
        ({ bare, url }) =>
          Effect.gen(function*() {
            const script =
              "if [ \"$DEVTEAM_TASK_ID\" = 1.1.3 ]; then echo '## Usage' >> README.md; else echo checked; fi"
            const driver = yield* makeDriver(executionConfig(url, { script, verifyCommands: ["npm run build"] }))
            yield* driver.step("SELECT")
            yield* driver.step("PREP")
            const implemented = expectOutcome(yield* driver.step("IMPLEMENT"), "ImplementCompleted")
            assert.isTrue(implemented.artifact.success)
            assert.deepStrictEqual(implemented.artifact.outputs.filesModified, [])
            assert.strictEqual(implemented.artifact.outputs.diff, "")
            assert.include(implemented.artifact.note ?? "", "the task needed no change")
            assert.isUndefined(implemented.artifact.failureReason)
            assert.isTrue(expectOutcome(yield* driver.step("VERIFY"), "VerifyCompleted").result.success)
            yield* driver.step("MERGE")
            yield* driver.step("PUSH")
            yield* driver.step("UPDATE_TASKLIST")
            // 1.1.2 is manual: the next task is 1.1.3, and the log says why
            const next = expectOutcome(yield* driver.step("SELECT"), "TaskSelected")
            assert.strictEqual(next.task.id, "1.1.3")
            assert.isTrue(
              driver.logs.some((l) => l.message.includes("skipping 1 manual task(s), left to a person: 1.1.2")),
              driver.logs.map((l) => l.message).join("\n")
            )
            for (const step of ["PREP", "IMPLEMENT", "VERIFY", "MERGE", "PUSH", "UPDATE_TASKLIST"] as const) {
              yield* driver.step(step)
            }
            assert.strictEqual(driver.state().completedTasks, 3, "1.1.1 and 1.1.3 done, 1.1.2 skipped")
            const list = remoteFile(bare, "docs/DevTeam/tasks_list.md")
            assert.include(list, "- [x] 1.1.1 Execute smoke test")
            assert.include(list, "- [ ] 1.1.2 Start worker service and tail logs (manual)")
          })
      )
  )

  it.scopedLive("interrupting IMPLEMENT (stop) kills the tool's process", () =>
    withPipeline(projectFiles(), ({ url }) =>
      Effect.gen(function*() {
        const marker = `devteam-stop-${Math.random().toString(36).slice(2, 8)}`
        const driver = yield* makeDriver(executionConfig(url, { script: `echo started; sleep 30 # ${marker}` }))
        yield* driver.step("SELECT")
        yield* driver.step("PREP")
        const fiber = yield* Effect.fork(driver.attempt("IMPLEMENT"))
        for (let i = 0; i < 200 && !processCommandLines().some((c) => c.includes(marker)); i++) {
          yield* Effect.sleep("25 millis")
        }
        assert.isTrue(processCommandLines().some((c) => c.includes(marker)), "the tool did not start")
        yield* Effect.sleep("200 millis")
        yield* Fiber.interrupt(fiber)
        assert.isFalse(processCommandLines().some((c) => c.includes(marker)), "the tool survived the stop")
        // Lines the tool printed before the stop were still flushed.
        assert.isTrue(driver.logs.some((l) => l.message === "started"))
      })))
})

describe("PipelineStepRunner (crash mid-tool)", () => {
  it.scopedLive("IMPLEMENT re-run after an interrupted tool starts from a clean branch (no leftovers committed)", () =>
    withPipeline(projectFiles(), ({ url }) =>
      Effect.gen(function*() {
        const marker = Path.join(Os.tmpdir(), `devteam-crash-${Math.random().toString(36).slice(2, 10)}`)
        yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(marker, { force: true })))
        // First run: writes its change, then hangs (we "crash" it); the second run completes.
        const script = `mkdir -p notes && echo "done $DEVTEAM_TASK_ID" >> notes/once.txt && ` +
          `if [ ! -f ${marker} ]; then touch ${marker}; sleep 30; fi`
        const driver = yield* makeDriver(executionConfig(url, { script, verifyCommands: ["true"] }))
        yield* driver.step("SELECT")
        const prep = expectOutcome(yield* driver.step("PREP"), "PrepCompleted")
        const fiber = yield* Effect.fork(driver.attempt("IMPLEMENT"))
        for (let i = 0; i < 200 && !Fs.existsSync(marker); i++) yield* Effect.sleep("25 millis")
        assert.isTrue(Fs.existsSync(marker), "the tool did not start")
        yield* Fiber.interrupt(fiber)
        assert.strictEqual(Fs.readFileSync(Path.join(prep.repoPath, "notes/once.txt"), "utf8"), "done 1.1.1\n")
        const implement = expectOutcome(yield* driver.step("IMPLEMENT"), "ImplementCompleted")
        assert.strictEqual(driver.state().cursor?.attempt, 2)
        assert.isNotNull(implement.commit)
        assert.strictEqual(git(prep.repoPath, ["show", `${implement.commit ?? ""}:notes/once.txt`]), "done 1.1.1\n")
        assert.strictEqual(git(prep.repoPath, ["rev-list", "--count", `main..${prep.branch}`]).trim(), "1")
      })))
})

describe("PipelineStepRunner (transient failures)", () => {
  it.scopedLive("a git network failure is retried inside the step with backoff; a remote that stays down fails with attempts", () =>
    Effect.gen(function*() {
      const root = yield* tempDir("devteam-pipeline-http-")
      makeBareRemote({ root: Path.join(root, "served"), name: "project.git", files: projectFiles() })
      let failuresLeft = 2
      const server = yield* GitHttpServer.make({
        root: Path.join(root, "served"),
        username: "runner",
        password: canarySecret,
        beforeServe: () => {
          if (failuresLeft <= 0) return Promise.resolve()
          failuresLeft--
          return Promise.reject(new Error("remote unavailable"))
        }
      })
      const url = server.url("project.git")
      const layer = pipelineLayer(Path.join(root, "workspaces"), "local", {
        gitUsername: Option.some("runner"),
        credentials: [{ host: server.host, username: "runner", token: Redacted.make(canarySecret) }]
      })
      yield* Effect.gen(function*() {
        const driver = yield* makeDriver(executionConfig(url))
        // Two 503s, then the third try of SELECT's fetch succeeds.
        const selected = expectOutcome(yield* driver.step("SELECT"), "TaskSelected")
        assert.strictEqual(selected.task.id, "1.1.1")
        assert.strictEqual(failuresLeft, 0)
        assert.strictEqual(driver.logs.filter((l) => l.message.includes("retrying")).length, 2)
        // Now the remote stays down: PREP gives up after 1 + 2 tries.
        failuresLeft = 1_000
        const error = yield* driver.fails("PREP")
        assert.strictEqual(error.category, "git")
        assert.strictEqual(error.attempts, 3)
        assert.include(error.message, "503")
        assert.notInclude(JSON.stringify(error), canarySecret)
        assert.isFalse(driver.logs.some((l) => l.message.includes(canarySecret)))
      }).pipe(Effect.provide(Layer.merge(layer, quiet)))
    }))
})

describe("PipelineStepRunner (docker sandbox)", () => {
  it.scopedLive(
    "a full task in one container per execution, removed when the execution ends",
    () =>
      Effect.gen(function*() {
        yield* dockerReady
        const owner = dockerOwner("test-pipeline")
        return yield* withPipeline(projectFiles(), ({ bare, url }) =>
          Effect.gen(function*() {
            const driver = yield* makeDriver(executionConfig(url))
            const containers = () =>
              execFileSync("docker", ["ps", "-a", "-q", "--filter", `label=devteam.project=${driver.projectId}`], {
                encoding: "utf8"
              }).split("\n").filter((l) => l !== "")
            const outcomes = yield* driver.task
            assert.isTrue(outcomeOf(outcomes, "ImplementCompleted").artifact.success)
            const verify = outcomeOf(outcomes, "VerifyCompleted")
            assert.isTrue(verify.result.success)
            assert.include(verify.result.artifacts.buildOutput, "build ok")
            assert.strictEqual(mergesOn(bare).length, 1)
            assert.include(remoteFile(bare, "docs/DevTeam/tasks_list.md"), "- [x] 1.1.1")
            assert.isTrue(isAncestor(bare, outcomeOf(outcomes, "ImplementCompleted").commit ?? "", remoteHead(bare)))
            // IMPLEMENT and VERIFY shared one container, still there until the execution ends.
            assert.strictEqual(containers().length, 1)
            yield* Scope.close(driver.executionScope, Exit.void)
            assert.strictEqual(containers().length, 0)
          }), { docker: owner })
      }),
    { timeout: 120_000 }
  )
  it.scopedLive(
    "egress per step: VERIFY's npm reaches the repository's registry through the proxy; IMPLEMENT is refused a host off its list; both summaries are journaled",
    () =>
      Effect.gen(function*() {
        yield* dockerReady
        // Two real HTTP servers on this host stand in for the outside world: a package registry
        // (answers npm's ping) and a host no step may reach (must record no connection).
        const registryHits: Array<string> = []
        const registry = yield* listen((req, res) => {
          registryHits.push(req.url ?? "")
          res.writeHead(200, { "content-type": "application/json" })
          res.end("{}")
        })
        let otherConnections = 0
        const other = yield* listen((_req, res) => res.end("should not be reached"))
        other.server.on("connection", () => {
          otherConnections += 1
        })
        const owner = dockerOwner("test-egress")
        const files = {
          ...projectFiles(),
          ".npmrc": `registry=http://registry.test:${registry.port}/\n`
        }
        const reachOther =
          `node -e 'require("http").get({host:"127.0.0.1",port:3128,path:"http://other.test:${other.port}/"},(r)=>{let b="";r.on("data",(d)=>b+=d);r.on("end",()=>console.log("proxy said: "+r.statusCode+" "+b.trim()))})'`
        return yield* withPipeline(files, ({ url }) =>
          Effect.gen(function*() {
            const driver = yield* makeDriver(executionConfig(url, {
              script: `${reachOther}; ${appendScript}`,
              verifyCommands: ["npm ping"]
            }))
            const outcomes = yield* driver.task
            const implement = outcomeOf(outcomes, "ImplementCompleted").artifact
            assert.isTrue(implement.success)
            assert.include(
              implement.outputs.stdout,
              `proxy said: 403 devteam egress proxy: other.test:${other.port} is not on the allow-list of step IMPLEMENT (allowed: nothing)`
            )
            assert.strictEqual(implement.egress?.step, "IMPLEMENT")
            assert.isTrue(implement.egress?.enforced)
            assert.deepStrictEqual(implement.egress?.allowList, [])
            assert.strictEqual(implement.egress?.denied, 1)
            assert.deepStrictEqual(implement.egress?.targets.map((t) => [t.target, t.allowed]), [
              [`other.test:${other.port}`, false]
            ])
            assert.strictEqual(otherConnections, 0, "the refused host saw no connection")

            const verify = outcomeOf(outcomes, "VerifyCompleted").result
            assert.isTrue(verify.success, verify.artifacts.buildOutput)
            assert.isTrue(registryHits.some((u) => u.startsWith("/-/ping")), `registry saw ${registryHits.join(", ")}`)
            assert.deepStrictEqual(verify.egress?.allowList, [`registry.test:${registry.port}`])
            assert.strictEqual(verify.egress?.denied, 0)
            const reached = verify.egress?.targets.find((t) => t.target === `registry.test:${registry.port}`)
            assert.isTrue(reached?.allowed)
            assert.isAtLeast(reached?.connections ?? 0, 1)
            assert.isAbove(reached?.bytesDown ?? 0, 0)
            // the refusal is in the step's log, naming how to allow the host
            assert.isTrue(
              driver.logs.some((l) =>
                l.level === "warn" && l.message.includes(`egress: refused other.test:${other.port}`) &&
                l.message.includes("EGRESS_ALLOW_IMPLEMENT")
              ),
              driver.logs.map((l) => l.message).join("\n")
            )
          }), {
          docker: owner,
          egressHosts: { "registry.test": "127.0.0.1", "other.test": "127.0.0.1" }
        })
      }),
    { timeout: 180_000 }
  )
})
