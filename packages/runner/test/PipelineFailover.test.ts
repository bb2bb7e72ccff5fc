/**
 * A project taken over mid-task by another runner with its own workspace (the documented
 * topology: one WORKSPACE_DIR per runner). Two pipelines over two workspace directories share one
 * journal (the driver's state) and one remote; the steps before the cut run on A, the rest on B.
 * Whatever the cut, the task's work is merged and pushed exactly once, ticked once, and nothing the
 * tool did is lost or redone.
 */
import { branchName } from "@devteam/domain/Branch"
import type { Step } from "@devteam/domain/ExecutionStatus"
import { TaskId } from "@devteam/domain/Ids"
import { git, remoteFile } from "@devteam/runtime/testing/GitRemote"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Logger, LogLevel } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { StepRunner } from "../src/StepRunner.js"
import {
  executionConfig,
  expectOutcome,
  makeDriver,
  makeRemote,
  outcomeOf,
  pipelineLayer,
  projectFiles
} from "./fixtures/Pipeline.js"

const quiet = Logger.minimumLogLevel(LogLevel.Warning)

const steps: ReadonlyArray<Step> = ["SELECT", "PREP", "IMPLEMENT", "VERIFY", "MERGE", "PUSH", "UPDATE_TASKLIST"]

/** A StepRunner over its own workspace directory (another runner). */
const runnerOver = (workspaceDir: string) =>
  Effect.map(
    Layer.build(Layer.merge(pipelineLayer(workspaceDir), quiet)),
    (context) => Context.get(context, StepRunner)
  )

const mergesOn = (bare: string) =>
  git(bare, ["log", "--merges", "--format=%s", "main"]).split("\n").filter((l) => l !== "")

const ticksOn = (bare: string) =>
  git(bare, ["log", "--format=%s", "main"]).split("\n").filter((l) => l.endsWith(": mark completed"))

/** One remote, runners A and B over workspace directories of their own, and a driver starting on A. */
const twoRunners = Effect.gen(function*() {
  const remote = yield* makeRemote(projectFiles())
  const a = yield* runnerOver(Path.join(remote.root, "runner-a"))
  const b = yield* runnerOver(Path.join(remote.root, "runner-b"))
  const driver = yield* makeDriver(executionConfig(remote.url, { verifyCommands: ["true"] })).pipe(
    Effect.provideService(StepRunner, a)
  )
  return { remote, a, b, driver }
})

/** Runs the first task with the steps before `cut` on runner A and the others on runner B. */
const takeOverAt = (cut: Step) =>
  Effect.gen(function*() {
    const { a, b, driver, remote } = yield* twoRunners
    const outcomes = []
    for (const step of steps) {
      outcomes.push(yield* driver.step(step, steps.indexOf(step) < steps.indexOf(cut) ? a : b))
    }
    return { remote, driver, outcomes }
  })

const branch = branchName(TaskId.make("1.1.1"), "Create the project skeleton")

describe("a project taken over mid-task by a runner with another workspace", () => {
  for (const cut of ["VERIFY", "MERGE", "PUSH", "UPDATE_TASKLIST"] as const) {
    it.live(
      `runner A does everything before ${cut}, runner B the rest: merged, pushed and ticked once`,
      () =>
        Effect.gen(function*() {
          const { outcomes, remote } = yield* takeOverAt(cut)
          const implemented = outcomeOf(outcomes, "ImplementCompleted")
          // the tool's change (made on A) reached the remote's base once, through one --no-ff merge
          assert.strictEqual(remoteFile(remote.bare, "notes/task-1.1.1.txt"), "done 1.1.1\n")
          assert.deepStrictEqual(mergesOn(remote.bare), [`Merge branch '${branch}' into main`])
          assert.deepStrictEqual(ticksOn(remote.bare), ["1.1.1: mark completed"])
          assert.include(
            remoteFile(remote.bare, "docs/DevTeam/tasks_list.md"),
            "- [x] 1.1.1 Create the project skeleton"
          )
          // the implement commit is in the pushed history (not a redone copy of it)
          assert.isNotNull(implemented.commit)
          git(remote.bare, ["merge-base", "--is-ancestor", implemented.commit ?? "", "main"])
          const pushed = outcomeOf(outcomes, "PushCompleted")
          assert.strictEqual(pushed.commit, git(remote.bare, ["rev-parse", "main~1"]).trim())
          // B had no workspace before it took over; it has one now
          assert.isTrue(Fs.existsSync(Path.join(remote.root, "runner-b")))
        }).pipe(Effect.scoped),
      60_000
    )
  }

  it.live("IMPLEMENT publishes the task branch: the remote holds the implement commit", () =>
    Effect.gen(function*() {
      const remote = yield* makeRemote(projectFiles())
      const a = yield* runnerOver(Path.join(remote.root, "runner-a"))
      const driver = yield* makeDriver(executionConfig(remote.url, { verifyCommands: ["true"] })).pipe(
        Effect.provideService(StepRunner, a)
      )
      yield* driver.step("SELECT")
      yield* driver.step("PREP")
      assert.strictEqual(git(remote.bare, ["branch", "--list", branch]).trim(), "")
      const implemented = expectOutcome(yield* driver.step("IMPLEMENT"), "ImplementCompleted")
      assert.strictEqual(git(remote.bare, ["rev-parse", `refs/heads/${branch}`]).trim(), implemented.commit)
    }).pipe(Effect.scoped), 60_000)

  it.live(
    "work that never reached the remote: B cannot restore it and says so (git error, nothing pushed)",
    () =>
      Effect.gen(function*() {
        const { b, driver, remote } = yield* twoRunners
        yield* driver.step("SELECT")
        yield* driver.step("PREP")
        yield* driver.step("IMPLEMENT")
        // the published copy disappears (someone deleted the branch on the remote)
        git(remote.bare, ["update-ref", "-d", `refs/heads/${branch}`])
        const before = git(remote.bare, ["rev-parse", "main"]).trim()
        const error = yield* Effect.flip(driver.attempt("VERIFY", b))
        assert.strictEqual(error.category, "git")
        assert.include(error.message, "neither in this runner's workspace nor on the remote")
        assert.strictEqual(git(remote.bare, ["rev-parse", "main"]).trim(), before)
      }).pipe(Effect.scoped),
    60_000
  )
})
