/**
 * Two projects on one repository (e.g. two task lists in one monorepo) run at the same time on one
 * runner: each works in its own tree, so one project's PREP never checks a branch out under the
 * other's running tool.
 */
import { remoteFile } from "@devteam/runtime/testing/GitRemote"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Logger, LogLevel } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import {
  executionConfig,
  hotfixInjection,
  makeDriver,
  makeRemote,
  outcomeOf,
  pipelineLayer,
  projectFiles
} from "./fixtures/Pipeline.js"

const quiet = Logger.minimumLogLevel(LogLevel.Warning)

describe("projects sharing a repository", () => {
  it.live(
    "each has its own work tree: B's PREP does not switch A's branch while A's tool runs",
    () =>
      Effect.gen(function*() {
        const remote = yield* makeRemote(projectFiles())
        yield* sharing(remote)
      }).pipe(Effect.scoped),
    60_000
  )
})

const sharing = (
  remote: { readonly root: string; readonly bare: string; readonly url: string; readonly workspaceDir: string }
) =>
  Effect.gen(function*() {
    const gate = Path.join(remote.root, "gate")
    // A's tool records the branch it is on only once B has prepared its own task
    const slowScript = `while [ ! -f ${gate} ]; do sleep 0.05; done; ` +
      "mkdir -p notes && git rev-parse --abbrev-ref HEAD > \"notes/branch-$DEVTEAM_TASK_ID.txt\""
    const a = yield* makeDriver(executionConfig(remote.url, { script: slowScript, verifyCommands: ["true"] }))
    const b = yield* makeDriver(executionConfig(remote.url, { verifyCommands: ["true"] }), {
      injections: [hotfixInjection]
    })

    yield* a.step("SELECT")
    const aPrep = outcomeOf([yield* a.step("PREP")], "PrepCompleted")
    const aImplement = yield* a.step("IMPLEMENT").pipe(Effect.fork)
    yield* b.step("SELECT")
    const bPrep = outcomeOf([yield* b.step("PREP")], "PrepCompleted")
    assert.strictEqual(bPrep.branch, "task/E1-hotfix")
    assert.notStrictEqual(bPrep.repoPath, aPrep.repoPath)
    Fs.writeFileSync(gate, "")
    yield* Fiber.join(aImplement)
    for (const step of ["VERIFY", "MERGE", "PUSH", "UPDATE_TASKLIST"] as const) yield* a.step(step)
    // A's tool ran on A's branch although B had checked its own out meanwhile
    assert.strictEqual(remoteFile(remote.bare, "notes/branch-1.1.1.txt"), `${aPrep.branch}\n`)
    // and B finishes its task in its own tree
    for (const step of ["IMPLEMENT", "VERIFY", "MERGE", "PUSH", "UPDATE_TASKLIST"] as const) yield* b.step(step)
    assert.strictEqual(remoteFile(remote.bare, "notes/task-E1.txt"), "done E1\n")
  }).pipe(Effect.scoped, Effect.provide(Layer.merge(pipelineLayer(remote.workspaceDir), quiet)))
