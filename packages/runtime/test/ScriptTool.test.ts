/**
 * The script tool in real git repositories, on both sandboxes (in docker the repository belongs
 * to another uid than the sandbox user, as it will in production).
 */
import { TaskId } from "@devteam/domain/Ids"
import { Task } from "@devteam/domain/Task"
import * as Prompt from "@devteam/runtime/Prompt"
import { Sandbox } from "@devteam/runtime/Sandbox"
import * as ScriptTool from "@devteam/runtime/ScriptTool"
import { assert, describe, layer } from "@effect/vitest"
import { Duration, Effect, Option, Redacted } from "effect"
import type { Layer } from "effect"
import { git, tempRepo } from "./fixtures/repos.js"
import { dockerLayer, localLayer, newIds, redactor, uniqueOwner } from "./fixtures/sandboxes.js"

const task = new Task({
  id: TaskId.make("2.1.1"),
  title: "Write the file",
  description: "Deterministic change.",
  type: "atomic",
  dependencies: [],
  files: ["out/result.txt"],
  criteria: {},
  phase: 2,
  status: "pending"
})

const settings: ScriptTool.ScriptSettings = {
  command: Option.none(),
  timeout: Duration.minutes(1),
  allowNoChanges: false
}

const run = (command: string | undefined, files: Record<string, string> = { "README.md": "# r\n" }) =>
  Effect.gen(function*() {
    const repo = yield* tempRepo(files)
    const sandbox = yield* Sandbox
    const handle = yield* sandbox.acquire({ ...newIds(), workspacePath: repo })
    const tool = yield* ScriptTool.make(settings).pipe(Effect.provide(redactor))
    const result = yield* Effect.either(tool.run({
      sandbox: handle,
      task,
      workspacePath: repo,
      env: { OPENAI_API_KEY: Redacted.make("sk-not-for-scripts-0123456789") },
      ...(command === undefined ? {} : { command })
    }))
    return { repo, result }
  })

const suite = (name: string, sandboxLayer: Layer.Layer<Sandbox>) =>
  layer(sandboxLayer, { timeout: "120 seconds", excludeTestServices: true })(`ScriptTool on ${name}`, (it) => {
    it.scoped("runs the command; the artifact has the diff, files (untracked included) and lines", () =>
      Effect.gen(function*() {
        const { repo, result } = yield* run(
          "mkdir -p out && printf '%s\\n%s\\n' \"$DEVTEAM_TASK_ID\" \"${OPENAI_API_KEY:-no key}\" > out/result.txt && echo changed >> README.md && echo done"
        )
        assert.strictEqual(result._tag, "Right")
        if (result._tag !== "Right") return
        const a = result.right
        assert.isTrue(a.success, a.failureReason)
        assert.strictEqual(a.tool, "script")
        assert.deepStrictEqual([...a.outputs.filesModified].sort(), ["README.md", "out/result.txt"])
        assert.strictEqual(a.outputs.linesChanged, 3)
        assert.include(a.outputs.diff, "+2.1.1")
        assert.include(a.outputs.diff, "+no key", "the model key is not given to scripts")
        assert.include(a.outputs.diff, "diff --git a/out/result.txt b/out/result.txt")
        // one git diff gives numstat and patch: the diff is the patch alone
        assert.isTrue(a.outputs.diff.startsWith("diff --git a/README.md b/README.md\n"), a.outputs.diff)
        assert.notMatch(a.outputs.diff, /^\d+\t\d+\t/m)
        assert.strictEqual(a.outputs.stdout, "done")
        assert.strictEqual(a.promptHash, Prompt.render(task).hash)
        assert.strictEqual(git(repo, "status", "--porcelain", "--untracked-files=all").split("\n").length, 2)
        assert.strictEqual(git(repo, "diff", "--cached", "--name-only"), "", "the real index is untouched")
      }))

    it.scoped("a failing command is a failed step with its exit code", () =>
      Effect.gen(function*() {
        const { result } = yield* run("echo oops >&2; echo x > f.txt; exit 4")
        assert.strictEqual(result._tag, "Right")
        if (result._tag !== "Right") return
        assert.isFalse(result.right.success)
        assert.include(result.right.failureReason ?? "", "exited with code 4")
        assert.strictEqual(result.right.outputs.stderr, "oops")
      }))

    it.scoped("a command that changes nothing is a failed step", () =>
      Effect.gen(function*() {
        const { result } = yield* run("true")
        assert.strictEqual(result._tag, "Right")
        if (result._tag !== "Right") return
        assert.isFalse(result.right.success)
        assert.include(result.right.failureReason ?? "", "changed nothing")
      }))

    it.scoped("no command configured is a ToolFailed", () =>
      Effect.gen(function*() {
        const { result } = yield* run(undefined)
        assert.strictEqual(result._tag, "Left")
        if (result._tag === "Left") assert.strictEqual(result.left._tag, "ToolFailed")
      }))
  })

describe("ScriptTool", () => {
  suite("local", localLayer)
  suite("docker", dockerLayer(uniqueOwner("script")))
})
