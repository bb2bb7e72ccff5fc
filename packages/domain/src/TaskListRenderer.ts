/**
 * Edits of the task list file that keep every other byte as it was (UPDATE_TASKLIST): only the task's
 * own line changes, line endings and the final newline (or its absence) are preserved.
 */
import { Data } from "effect"
import type { TaskId } from "./Ids.js"
import { indexOf } from "./TaskList.js"
import { parse } from "./TaskListParser.js"

export type MarkResult = Data.TaggedEnum<{
  /** The new file content: the task's line now carries `[x]`. */
  Updated: { readonly source: string }
  /** The file already says the task is completed (checked, or in a phase/group marked completed). */
  AlreadyCompleted: {}
  /** No task with that id in the file (an injected task, a commented-out one, a typo). */
  NotInFile: {}
  /** The task's line cannot carry a checkbox (a phase heading). */
  NotMarkable: { readonly reason: string }
}>
export const MarkResult = Data.taggedEnum<MarkResult>()

/** Start offset of the 1-based `line` in `source`, or -1. */
const lineStart = (source: string, line: number): number => {
  let offset = 0
  for (let current = 1; current < line; current++) {
    const newline = source.indexOf("\n", offset)
    if (newline < 0) return -1
    offset = newline + 1
  }
  return offset
}

/**
 * Marks a task completed in the file: `- [ ] 2.1.1 T` → `- [x] 2.1.1 T`, `- 2.1.1 T` → `- [x] 2.1.1 T`.
 * Marking a group checks the group's line, which marks everything inside it completed.
 */
export const markCompleted = (source: string, taskId: TaskId): MarkResult => {
  const list = parse(source)
  const i = indexOf(list, taskId)
  const task = list.tasks[i]
  const origin = list.sources[i]
  if (task === undefined || origin === undefined) return MarkResult.NotInFile()
  if (task.status === "completed") return MarkResult.AlreadyCompleted()
  if (origin.markColumn < 0 || origin.commented) {
    return MarkResult.NotMarkable({ reason: `task ${taskId} is a ${task.type} heading without a checkbox` })
  }
  const start = lineStart(source, origin.line)
  if (start < 0) return MarkResult.NotInFile()
  const at = start + origin.markColumn
  if (origin.checkbox === "none") {
    return MarkResult.Updated({ source: `${source.slice(0, at)}[x] ${source.slice(at)}` })
  }
  if (source[at] !== "[" || source[at + 2] !== "]") {
    return MarkResult.NotMarkable({ reason: `the checkbox of task ${taskId} was not found where expected` })
  }
  return MarkResult.Updated({ source: `${source.slice(0, at + 1)}x${source.slice(at + 2)}` })
}
