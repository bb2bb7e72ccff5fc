/**
 * The IMPLEMENT prompt: a deterministic, versioned template. The same task, requirements and
 * conventions always render to the same text, whose sha256 (with the template version) is
 * journaled so that a run can be reproduced. Change `templateVersion` whenever the template text
 * changes.
 */
import type { Task } from "@devteam/domain/Task"
import { createHash } from "node:crypto"

export const templateVersion = "implement/v1"

export interface RenderedPrompt {
  readonly text: string
  /** sha256 of `text`, hex. */
  readonly hash: string
  readonly templateVersion: string
}

/** Machine-checked criteria (the Verifier checks them) versus free-text acceptance criteria. */
const machineCriteria = new Set(["test.coverage", "type.strict", "doc.updated"])

const oneLine = (s: string): string => s.replace(/\r\n?/g, "\n").trim()

const bullets = (items: ReadonlyArray<string>, empty: string): string =>
  items.length === 0 ? `- ${empty}` : items.map((i) => `- ${oneLine(i).replace(/\n/g, "\n  ")}`).join("\n")

/** Natural order for criterion keys (`acceptance.2` before `acceptance.10`). */
const compareKeys = (a: string, b: string): number => a.localeCompare(b, "en", { numeric: true })

export const render = (
  task: Task,
  conventions: string = "",
  requirements: ReadonlyArray<string> = []
): RenderedPrompt => {
  const criteria = Object.keys(task.criteria).sort(compareKeys)
  const reqs = [
    ...requirements,
    ...criteria.filter((k) => k.startsWith("requirement")).map((k) => task.criteria[k] ?? "")
  ]
  const acceptance = criteria
    .filter((k) => !k.startsWith("requirement") && !machineCriteria.has(k))
    .map((k) => task.criteria[k] ?? "")
  const checks = criteria.filter((k) => machineCriteria.has(k)).map((k) => `${k}: ${task.criteria[k] ?? ""}`)
  const text = [
    `# Task ${task.id}: ${oneLine(task.title)}`,
    "",
    "You are working in a git repository. Implement exactly this task, with minimal, file-scoped",
    "changes. Do not commit; do not modify files unrelated to the task.",
    "",
    "## Description",
    oneLine(task.description) === "" ? "(none)" : oneLine(task.description),
    "",
    "## Files",
    bullets(task.files, "(not specified: choose the smallest set of files)"),
    "",
    "## Requirements",
    bullets(reqs, "(none beyond the description)"),
    "",
    "## Acceptance criteria",
    bullets(acceptance, "(none beyond the description)"),
    "",
    "## Checks that will be run",
    bullets(checks, "(the project's build)"),
    "",
    "## Repository conventions",
    oneLine(conventions) === "" ? "(none given: follow the style of the surrounding code)" : oneLine(conventions),
    ""
  ].join("\n")
  return { text, hash: createHash("sha256").update(text, "utf8").digest("hex"), templateVersion }
}
