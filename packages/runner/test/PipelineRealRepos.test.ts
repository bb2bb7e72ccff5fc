/**
 * The pipeline on a realistic TypeScript library implemented by a real coding agent: the real
 * `claude` binary (the devDependency, local sandbox) makes every edit with its own Read / Edit /
 * Write tool calls as the scripted Anthropic server (ScriptedModel) tells it. The library is strict
 * TypeScript with vitest and v8 coverage — development dependencies from the npm registry (lockfile
 * resolved once per machine, see @devteam/runtime/testing/RealProjects) — with a five-task list with
 * dependencies. VERIFY is real: npm ci, tsc build, vitest coverage per touched file, tsc type check,
 * doc.updated. (The JavaScript service in Docker, with pnpm and the egress window: AgentRealService.)
 *
 * One execution covers: every task completes; 1.1.2's first implementation leaves its touched file
 * below the coverage threshold (the per-file figure in the verdict) and passes on the second
 * attempt, whose prompt — as the model received it — holds that figure; 2.1.2 needs no change.
 */
import { ProjectId } from "@devteam/domain/Ids"
import { remoteFile } from "@devteam/runtime/testing/GitRemote"
import { tsLibrary } from "@devteam/runtime/testing/RealProjects"
import * as ScriptedModel from "@devteam/runtime/testing/ScriptedModel"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { edit, firstPrompt, fixHeading, localSetup, type Plans, read, runRealProject, write } from "./fixtures/Agent.js"
import { checkedLines, mergesOn } from "./fixtures/E2E.js"

const taskList = `# Tasks

Phase 1: Math library

- 1.1 Operations
  - [ ] 1.1.1 Add sub to src/math.ts with a test
    • test.coverage: ≥80%
    • type.strict: 0 errors
  - [ ] 1.1.2 Add mul to src/math.ts with a test
    • test.coverage: ≥80%
  - [ ] 1.1.3 Export sub and mul from src/index.ts
    • type.strict: 0 errors

Phase 2: Docs (Dependencies: [1])

- 2.1 Documentation
  - [ ] 2.1.1 Document the API in README.md
    • doc.updated: README.md
  - [ ] 2.1.2 Run the test suite and confirm it passes
`

const taskIds = ["1.1.1", "1.1.2", "1.1.3", "2.1.1", "2.1.2"]

const { text } = ScriptedModel
const testFile = (name: string, call: string, expected: number) =>
  `import { expect, test } from "vitest"\nimport { ${name} } from "../src/math.js"\n\ntest("${name}", () => expect(${call}).toBe(${expected}))\n`

const addLine = "export const add = (a: number, b: number): number => a + b\n"
const subLine = "export const sub = (a: number, b: number): number => a - b\n"
// three statements, none run by a test until the fix: the file drops below 80%
const mul = "export const mul = (a: number, b: number): number => {\n  const product = a * b\n  return product\n}\n"

const plans: Plans = {
  "1.1.1": [
    read("src/math.ts"),
    edit("src/math.ts", addLine, addLine + subLine),
    write("test/sub.test.ts", testFile("sub", "sub(3, 2)", 1)),
    text("Added sub with its test.")
  ],
  // the first implementation forgets the test
  "1.1.2": [read("src/math.ts"), edit("src/math.ts", subLine, subLine + mul), text("Added mul.")],
  "1.1.3": [
    read("src/index.ts"),
    write("src/index.ts", "export { add, mul, sub } from \"./math.js\"\n"),
    text("Exported sub and mul.")
  ],
  "2.1.1": [
    read("README.md"),
    edit(
      "README.md",
      "A small TypeScript library.\n",
      "A small TypeScript library.\n\n## API\n\n- add(a, b), sub(a, b), mul(a, b)\n"
    ),
    text("Documented the API.")
  ],
  "2.1.2": [text("The suite already passes: nothing to change.")]
}

/** The second attempt of 1.1.2, told that its file's coverage is too low. */
const fixPlans: Plans = {
  "1.1.2": [write("test/mul.test.ts", testFile("mul", "mul(3, 2)", 6)), text("Added the missing test for mul.")]
}

describe("A realistic TypeScript library (npm, vitest, strict tsc) implemented by claude", () => {
  it.scopedLive(
    "five tasks with dependencies complete; 1.1.2 fails coverage on its touched file first and passes with the second prompt, which holds the figure; the last needs no change",
    () =>
      Effect.gen(function*() {
        const { final, implemented, model, remote, verdicts } = yield* runRealProject({
          // One project id for every run: its download cache (npm) stays warm across runs.
          projectId: ProjectId.make("e2e/real-ts-library"),
          files: tsLibrary(),
          taskList,
          plans,
          fixPlans,
          setup: localSetup
        })
        assert.deepStrictEqual(final.completedInExecution.map(String), taskIds)
        assert.deepStrictEqual(
          verdicts.map((r) => `${r.taskId}:${r.success ? "ok" : "failed"}`),
          ["1.1.1:ok", "1.1.2:failed", "1.1.2:ok", "1.1.3:ok", "2.1.1:ok", "2.1.2:ok"]
        )
        for (const r of verdicts) assert.strictEqual(r.packageManager, "npm")
        const [first, coverageLow, fixed] = verdicts
        assert.include(first?.attempts[0]?.log ?? "", "npm ci")
        assert.strictEqual(first?.results["type.strict"]?.actual, "0 errors")

        // 1.1.2: the touched file's own figure, below the threshold; the tests themselves passed
        const coverage = coverageLow?.results["test.coverage"]
        assert.isFalse(coverage?.passed)
        assert.match(coverage?.actual ?? "", /^src\/math\.ts \d+(\.\d+)?%$/)
        assert.isBelow(coverage?.perFile?.find((f) => f.file === "src/math.ts")?.actual ?? 100, 80)
        assert.isUndefined(coverageLow?.failedCommand, "only the figure failed")
        assert.isTrue(fixed?.results["test.coverage"]?.passed)
        // the second prompt, as the model received it, holds the failure
        const fixPrompt = firstPrompt(model, "1.1.2", true)
        assert.include(fixPrompt, `${fixHeading} (attempt 1 of 2)`)
        assert.match(fixPrompt, /- src\/math\.ts: \d+(\.\d+)?% \(required ≥80%\) — below/)
        // every prompt carries where the task sits, the repository's guidance, and for phase 2
        // what its dependencies changed
        const docsPrompt = firstPrompt(model, "2.1.1", false)
        assert.include(docsPrompt, "Phase: 2 Docs")
        assert.include(docsPrompt, "### AGENTS.md")
        assert.include(docsPrompt, "## What its dependencies changed")
        assert.match(docsPrompt, /- 1\.1\.3 Export sub and mul from src\/index\.ts\n(?: +.*\n)*? +src\/index\.ts +\|/)
        assert.strictEqual(verdicts[4]?.results["doc.updated"]?.passed, true)

        // 2.1.2: the agent changed nothing; the task completed with an empty artifact and a note
        assert.strictEqual(implemented.length, 6, "five tasks and one fix, each a run of the agent")
        for (const artifact of implemented) assert.strictEqual(artifact.tool, "claude-code")
        assert.deepStrictEqual(implemented.at(-1)?.outputs.filesModified, [])
        assert.include(implemented.at(-1)?.note ?? "", "needed no change")

        // the remote holds every change and every tick
        assert.strictEqual(checkedLines(remoteFile(remote.bare, "docs/DevTeam/tasks_list.md")).length, 5)
        assert.strictEqual(mergesOn(remote.bare).length, taskIds.length - 1, "the no-change task merges nothing")
        assert.include(remoteFile(remote.bare, "src/index.ts"), "export { add, mul, sub }")
        assert.include(remoteFile(remote.bare, "test/mul.test.ts"), "mul(3, 2)")
        assert.include(remoteFile(remote.bare, "README.md"), "## API")
      }),
    { timeout: 900_000 }
  )
})
