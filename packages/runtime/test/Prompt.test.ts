import { TaskId } from "@devteam/domain/Ids"
import { Task } from "@devteam/domain/Task"
import * as Prompt from "@devteam/runtime/Prompt"
import { assert, describe, it } from "@effect/vitest"
import { createHash } from "node:crypto"

const task = (criteria: Record<string, string>) =>
  new Task({
    id: TaskId.make("1.1.1"),
    title: "Add DEVTEAM_ENABLED flag",
    description: "Add the flag to src/config.js with default false and JSDoc.",
    type: "atomic",
    dependencies: [],
    files: ["src/config.js"],
    criteria,
    phase: 1,
    status: "pending"
  })

describe("Prompt", () => {
  it("renders deterministically, whatever the order of the criteria", () => {
    const a = Prompt.render(
      task({
        "acceptance.2": "JSDoc",
        "acceptance.10": "tenth",
        "acceptance.1": "default false",
        "test.coverage": "≥80%"
      }),
      "2 spaces"
    )
    const b = Prompt.render(
      task({
        "test.coverage": "≥80%",
        "acceptance.1": "default false",
        "acceptance.10": "tenth",
        "acceptance.2": "JSDoc"
      }),
      "2 spaces"
    )
    assert.strictEqual(a.text, b.text)
    assert.strictEqual(a.hash, b.hash)
    assert.strictEqual(a.hash, createHash("sha256").update(a.text).digest("hex"))
    assert.strictEqual(a.templateVersion, Prompt.templateVersion)
    assert.include(a.text, "# Task 1.1.1: Add DEVTEAM_ENABLED flag")
    assert.include(a.text, "- src/config.js")
    assert.include(a.text, "- test.coverage: ≥80% line coverage on each source file you change")
    assert.isBelow(a.text.indexOf("- JSDoc"), a.text.indexOf("- tenth"), "acceptance.2 before acceptance.10")
    assert.include(a.text, "## Repository conventions\n2 spaces")
  })

  it("changes its hash when anything that matters changes", () => {
    const base = Prompt.render(task({}), "")
    assert.notStrictEqual(Prompt.render(task({ "acceptance.1": "x" }), "").hash, base.hash)
    assert.notStrictEqual(Prompt.render(task({}), "tabs").hash, base.hash)
    assert.notStrictEqual(Prompt.render(task({}), "", ["a requirement"]).hash, base.hash)
  })
})
