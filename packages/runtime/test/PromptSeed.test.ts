/**
 * Three IMPLEMENT prompts rendered from the seed task list (packages/domain/test/fixtures), with
 * the context the pipeline gathers — phase and group, what the dependencies changed, the
 * repository's guidance, the verification that will run, and (the third) a fix attempt — kept as
 * snapshots a reviewer reads: a change to the template shows up here as a diff.
 */
import type { VerificationResult } from "@devteam/domain/Artifacts"
import {
  CriterionResult,
  FailedCommand,
  FileCoverage,
  VerificationArtifacts,
  VerificationResult as Result,
  VerifyAttempt
} from "@devteam/domain/Artifacts"
import { TaskId } from "@devteam/domain/Ids"
import { Task } from "@devteam/domain/Task"
import { parse } from "@devteam/domain/TaskListParser"
import * as Prompt from "@devteam/runtime/Prompt"
import * as PromptContext from "@devteam/runtime/PromptContext"
import { describe, expect, it } from "@effect/vitest"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

const here = Path.dirname(fileURLToPath(import.meta.url))
const seed = parse(Fs.readFileSync(Path.join(here, "../../domain/test/fixtures/seed-tasks_list.md"), "utf8"))

const taskOf = (id: string): Task => {
  const task = seed.tasks.find((t) => t.id === id)
  if (task === undefined) throw new Error(`seed task ${id} missing`)
  return task
}

const guidance: ReadonlyArray<Prompt.GuidanceExcerpt> = [{
  file: "AGENTS.md",
  excerpt:
    "# Working here\n\n- FastAPI routers live in app/api/; one router per resource.\n- Tests: pytest, in tests/.\n"
}]

const contextFor = (task: Task, extra: Partial<Prompt.PromptContext> = {}): Prompt.PromptContext => ({
  ...PromptContext.placement(seed, task),
  guidance,
  ...extra
})

const failed: VerificationResult = new Result({
  taskId: TaskId.make("2.1.2"),
  success: false,
  results: {
    "test.coverage": new CriterionResult({
      passed: false,
      actual: "app/api/events.py 62.5%",
      required: "≥80%",
      perFile: [new FileCoverage({ file: "app/api/events.py", actual: 62.5, passed: false })]
    })
  },
  artifacts: new VerificationArtifacts({ buildOutput: "" }),
  attempts: [new VerifyAttempt({ attempt: 1, success: false, log: "…", duration: 12 })],
  failedCommand: new FailedCommand({
    name: "test",
    command: "npm run test",
    exitCode: 1,
    timedOut: false,
    tail: "FAIL tests/test_events.py::test_rejects_missing_type\nAssertionError: expected 422, got 500"
  })
})

describe("IMPLEMENT prompts from the seed task list", () => {
  it("2.1.1 (first task of a group: phase, group, guidance, default verification)", () => {
    const task = taskOf("2.1.1")
    const prompt = Prompt.render(task, contextFor(task))
    expect(prompt.templateVersion).toBe("implement/v2")
    expect(prompt.text).toContain("Phase: 2 Events → Worker Wire-up")
    expect(prompt.text).toContain("Group: 2.1 Mount events router")
    expect(prompt.text).toMatchSnapshot()
  })

  it("2.1.3 (dependencies' changes, configured commands, machine-checked criteria)", () => {
    const task = new Task({
      ...taskOf("2.1.3"),
      criteria: {
        "test.coverage": "≥80%",
        "doc.updated": "task_outcomes.md",
        "acceptance.1": "The event row has a correlationId"
      }
    })
    const prompt = Prompt.render(
      task,
      contextFor(task, {
        dependencies: [
          {
            id: "2.1.1",
            title: "Add router mount for events in API",
            files: ["app/main.py", "app/api/events.py"],
            diffstat:
              " app/api/events.py | 12 ++++++++++++\n app/main.py       |  2 ++\n 2 files changed, 14 insertions(+)"
          },
          {
            id: "2.1.2",
            title: "Implement request schema validation for POST /events",
            files: ["app/api/events.py", "app/schemas/event.py"],
            diffstat:
              " app/api/events.py    |  6 ++++--\n app/schemas/event.py | 21 +++++++++++++++++++++\n 2 files changed, 25 insertions(+), 2 deletions(-)"
          }
        ],
        verifyCommands: ["npm ci", "npm run build", "npm test"]
      })
    )
    expect(prompt.text).toContain("2.1.2 Implement request schema validation for POST /events")
    expect(prompt.text).toContain("doc.updated: your change must also update task_outcomes.md")
    expect(prompt.text).toMatchSnapshot()
  })

  it("2.1.2 on its second attempt (the fix loop: the failing command, its output, per-file coverage)", () => {
    const task = new Task({ ...taskOf("2.1.2"), criteria: { "test.coverage": "≥80%" } })
    const prompt = Prompt.render(task, contextFor(task, { fix: PromptContext.fixContext(failed, 3) }))
    expect(prompt.text).toContain("## Previous attempt failed verification (attempt 1 of 3)")
    expect(prompt.text).toContain("Failing command: `npm run test` (exit 1)")
    expect(prompt.text).toContain("app/api/events.py: 62.5% (required ≥80%) — below")
    expect(prompt.text.length).toBeLessThanOrEqual(Prompt.maxPromptChars)
    expect(prompt.text).toMatchSnapshot()
  })
})
