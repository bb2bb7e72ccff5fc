/**
 * Edits of the task list file that keep every other byte as it was (UPDATE_TASKLIST): only the task's
 * own line changes (or, for an injected task, its lines are added), line endings and the final newline
 * (or its absence) are preserved.
 */
import { Data } from "effect"
import type { TaskId } from "./Ids.js"
import type { InjectedTask } from "./Injection.js"
import type { Task } from "./Task.js"
import { isDone } from "./Task.js"
import type { TaskList } from "./TaskList.js"
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

const indentOf = (line: string): string => /^[ \t]*/.exec(line)?.[0] ?? ""
const isBlankLine = (line: string): boolean => line.trim().length === 0

/**
 * Index (0-based, in `lines`) of the last line of the task whose own line is `lines[at]`: its more
 * indented lines and `•` criteria (blank lines between them included), as the parser reads them.
 */
const blockEnd = (lines: ReadonlyArray<string>, at: number): number => {
  const width = indentOf(lines[at] ?? "").length
  let end = at
  for (let i = at + 1; i < lines.length; i++) {
    const line = lines[i] ?? ""
    if (isBlankLine(line)) continue
    if (indentOf(line).length > width || /^[ \t]*[•·▪◦]/.test(line)) end = i
    else break
  }
  return end
}

/**
 * Where an injected task goes in the file, as `TaskSelection.effective` places it: `positional` after
 * its anchor's subtree (and after tasks injected there before it), `replace` right after the replaced
 * task, `priority` before the first task still to do when it ran (it ran ahead of them). Its indent is
 * its neighbour's, so it lands in the same group or phase. At the end of the file when the anchor is
 * not in the file.
 */
const placement = (
  list: TaskList,
  lines: ReadonlyArray<string>,
  injection: InjectedTask
): { readonly beforeLine: number; readonly indent: string } => {
  const end = { beforeLine: lines.length, indent: "" }
  const lineIndex = (i: number) => (list.sources[i]?.line ?? 1) - 1
  if (injection.mode === "priority") {
    const next = list.tasks.findIndex((t, i) => t.type === "atomic" && !isDone(t.status) && !list.sources[i]?.commented)
    if (next < 0) return end
    return { beforeLine: lineIndex(next), indent: indentOf(lines[lineIndex(next)] ?? "") }
  }
  const anchorId = injection.mode === "replace" ? injection.replaceTaskId : injection.afterTaskId
  const anchor = anchorId === undefined ? -1 : indexOf(list, anchorId)
  if (anchor < 0) return end
  const parentOf = new Map<string, string | null>()
  list.tasks.forEach((t, i) => parentOf.set(t.id, list.sources[i]?.parentId ?? null))
  const isUnder = (id: string, ancestor: string): boolean => {
    for (let p = parentOf.get(id) ?? null; p !== null; p = parentOf.get(p) ?? null) if (p === ancestor) return true
    return false
  }
  const anchorTask = list.tasks[anchor]
  let last = anchor
  for (let j = anchor + 1; j < list.tasks.length && anchorTask !== undefined && injection.mode === "positional"; j++) {
    const t = list.tasks[j]
    const source = list.sources[j]
    if (t === undefined || source === undefined) break
    const sibling = source.injected && source.parentId === (list.sources[anchor]?.parentId ?? null)
    if (!isUnder(t.id, anchorTask.id) && !sibling) break
    last = j
  }
  return { beforeLine: blockEnd(lines, lineIndex(last)) + 1, indent: indentOf(lines[lineIndex(anchor)] ?? "") }
}

/** The file's tasks that must not change when a line is added: id, type, status and parent. */
const shape = (list: TaskList): Map<string, string> =>
  new Map(list.tasks.map((t, i) => [t.id, `${t.type} ${t.status} ${list.sources[i]?.parentId ?? "-"}`]))

/**
 * Writes an injected task into the file, ticked, where its injection placed it (see `placement`), as
 * `- [x] <id> <title> (injected)` with its description indented under it — the parser reads it back
 * as that task, completed. The result is parsed before it is returned: when the description (or the
 * title) would change how any other line reads, it is left out; when even the bare line cannot be
 * added cleanly the file is left alone (NotMarkable).
 */
export const addInjected = (source: string, task: Task, injection: InjectedTask): MarkResult => {
  const before = parse(source)
  if (indexOf(before, task.id) >= 0) return markCompleted(source, task.id)
  const eol = source.includes("\r\n") ? "\r\n" : "\n"
  const lines = source.split(/\r?\n/)
  // a final newline leaves an empty last element: insert before it
  const body = source.endsWith("\n") ? lines.slice(0, -1) : lines
  const { beforeLine, indent } = placement(before, body, injection)
  const oneLine = (text: string) => text.replace(/[\r\n\t]+/g, " ").trim()
  const title = oneLine(task.title)
  const description = task.description.split(/\r?\n/).map((l) => l.trimEnd()).filter((l) => !isBlankLine(l))
  const candidates: Array<ReadonlyArray<string>> = [
    [`${indent}- [x] ${task.id} ${title} (injected)`, ...description.map((l) => `${indent}  ${l}`)],
    [`${indent}- [x] ${task.id} ${title} (injected)`],
    [`${indent}- [x] ${task.id} Injected task (injected)`]
  ]
  const expected = shape(before)
  for (const added of candidates) {
    const next = [...body.slice(0, beforeLine), ...added, ...body.slice(beforeLine)]
    const rendered = next.join(eol) + (source.endsWith("\n") ? eol : "")
    const after = parse(rendered)
    const written = after.tasks[indexOf(after, task.id)]
    const now = shape(after)
    const unchanged = [...expected].every(([id, form]) => now.get(id) === form)
    if (
      written !== undefined && written.type === "atomic" && written.status === "completed" && unchanged &&
      after.tasks.length === before.tasks.length + 1 && after.diagnostics.length === before.diagnostics.length
    ) return MarkResult.Updated({ source: rendered })
  }
  return MarkResult.NotMarkable({
    reason: `injected task ${task.id} could not be added to the file without changing it`
  })
}
