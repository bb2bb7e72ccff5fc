/**
 * The pipeline on a realistic repository: a strict TypeScript library whose development
 * dependencies (typescript, vitest, @vitest/coverage-v8) are installed from the npm registry
 * (lockfile resolved once per machine, see @devteam/runtime/testing/RealProjects), with a
 * five-task list with dependencies. The agent is a stand-in (the script tool) that makes each
 * task's edit from the task id — and, for 1.1.2, writes the test only once the prompt tells it
 * that coverage of the touched file failed. VERIFY is real: npm ci, tsc build, vitest coverage
 * per touched file, tsc type check, doc.updated. Local sandbox (the registry is reachable).
 */
import { remoteFile } from "@devteam/runtime/testing/GitRemote"
import { tsLibrary } from "@devteam/runtime/testing/RealProjects"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Logger, LogLevel } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { executionConfig, expectOutcome, makeDriver, makeRemote, pipelineLayer } from "./fixtures/Pipeline.js"

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

const testFile = (name: string, call: string, expected: number) =>
  `import { expect, test } from "vitest"\nimport { ${name} } from "../src/math.js"\n\ntest("${name}", () => expect(${call}).toBe(${expected}))\n`

/** The stand-in agent: one edit per task; 1.1.2's test only once told what failed. */
const agentScript = (promptCopy: string) =>
  [
    "case \"$DEVTEAM_TASK_ID\" in",
    `1.1.1) printf '%s\\n' 'export const sub = (a: number, b: number): number => a - b' >> src/math.ts; printf '%s' '${
      testFile("sub", "sub(3, 2)", 1)
    }' > test/sub.test.ts ;;`,
    `1.1.2) if grep -q "Previous attempt failed verification" "$DEVTEAM_PROMPT_FILE"; then cp "$DEVTEAM_PROMPT_FILE" ${promptCopy}; printf '%s' '${
      testFile("mul", "mul(3, 2)", 6)
    }' > test/mul.test.ts; else printf '%s\\n' 'export const mul = (a: number, b: number): number => {' '  const product = a * b' '  return product' '}' >> src/math.ts; fi ;;`,
    "1.1.3) printf '%s\\n' 'export { add, mul, sub } from \"./math.js\"' > src/index.ts ;;",
    "2.1.1) printf '\\n## API\\n\\n- add(a, b), sub(a, b), mul(a, b)\\n' >> README.md ;;",
    "*) echo 'the suite passes: nothing to change' ;;",
    "esac"
  ].join("\n")

describe("Pipeline on a realistic TypeScript library", () => {
  it.scopedLive(
    "five tasks with dependencies complete; 1.1.2 fails coverage on its touched file first and passes with the second prompt; the last needs no change",
    () =>
      Effect.gen(function*() {
        const promptCopy = Path.join(Os.tmpdir(), `devteam-real-fix-${Math.random().toString(36).slice(2)}.md`)
        yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(promptCopy, { force: true })))
        const remote = yield* makeRemote({ ...tsLibrary(), "docs/DevTeam/tasks_list.md": taskList })
        yield* Effect.gen(function*() {
          const driver = yield* makeDriver(executionConfig(remote.url, { script: agentScript(promptCopy) }))
          const verdicts: Array<[string, boolean, string]> = []
          for (let guard = 0; guard < 60; guard++) {
            const selected = yield* driver.attempt("SELECT")
            if (selected._tag === "Finished") {
              driver.record(selected)
              break
            }
            driver.record(selected)
            for (const step of ["PREP", "IMPLEMENT", "VERIFY"] as const) yield* driver.step(step)
            while (driver.state().failedVerification !== null) {
              const failed = driver.state().failedVerification
              verdicts.push([
                driver.state().currentTask?.id ?? "?",
                false,
                failed?.results["test.coverage"]?.actual ?? ""
              ])
              yield* driver.step("IMPLEMENT")
              const verdict = expectOutcome(yield* driver.step("VERIFY"), "VerifyCompleted")
              if (verdict.result.success) verdicts.push([verdict.taskId, true, ""])
            }
            for (const step of ["MERGE", "PUSH", "UPDATE_TASKLIST"] as const) yield* driver.step(step)
          }
          assert.strictEqual(driver.state().status, "COMPLETED")
          assert.deepStrictEqual([...driver.state().completedInExecution], [
            "1.1.1",
            "1.1.2",
            "1.1.3",
            "2.1.1",
            "2.1.2"
          ])
          // 1.1.2: coverage of the touched file below the threshold first (the per-file figure), then fixed
          assert.strictEqual(verdicts.length, 2)
          assert.strictEqual(verdicts[0]?.[0], "1.1.2")
          assert.match(verdicts[0]?.[2] ?? "", /^src\/math\.ts \d+(\.\d+)?%$/)
          assert.isBelow(Number((verdicts[0]?.[2] ?? "").split(" ")[1]?.replace("%", "")), 80)
          assert.deepStrictEqual(verdicts[1], ["1.1.2", true, ""])
          const prompt = Fs.readFileSync(promptCopy, "utf8")
          assert.include(prompt, "## Previous attempt failed verification (attempt 1 of 3)")
          assert.match(prompt, /- src\/math\.ts: \d+(\.\d+)?% \(required ≥80%\) — below/)
          assert.include(prompt, "Phase: 1 Math library")
          assert.include(prompt, "### AGENTS.md")
          assert.include(prompt, "- 1.1.1 Add sub to src/math.ts with a test")
          // the remote holds every change and every tick
          const list = remoteFile(remote.bare, "docs/DevTeam/tasks_list.md")
          assert.strictEqual((list.match(/- \[x\]/g) ?? []).length, 5)
          assert.include(remoteFile(remote.bare, "src/index.ts"), "export { add, mul, sub }")
          assert.include(remoteFile(remote.bare, "test/mul.test.ts"), "mul(3, 2)")
          assert.include(remoteFile(remote.bare, "README.md"), "## API")
        }).pipe(
          Effect.provide(Layer.merge(pipelineLayer(remote.workspaceDir), Logger.minimumLogLevel(LogLevel.Warning)))
        )
      }),
    { timeout: 900_000 }
  )
})
