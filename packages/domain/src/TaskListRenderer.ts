/**
 * Edits of the task list file that keep every other byte as it was (UPDATE_TASKLIST): only the task's
 * own line changes (or, for an injected task, its lines are added; for a journaled edit, its line and
 * description), line endings and the final newline (or its absence) are preserved.
 */
import { Data } from "effect"
import type { TaskId } from "./Ids.js"
import type { InjectedTask } from "./Injection.js"
import { TaskPatch } from "./Injection.js"
import type { TaskStatus } from "./Task.js"
import { isDone, Task } from "./Task.js"
import type { TaskList } from "./TaskList.js"
import { indexOf } from "./TaskList.js"
import { isHeadingLine, itemLineParts, parse } from "./TaskListParser.js"
import * as TaskSelection from "./TaskSelection.js"

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

/** A journaled edit (`PUT /repository/tasks/...`) that was not written into the file, and why. */
export interface EditLeftOut {
  readonly taskId: TaskId
  readonly reason: string
}

export interface EditsResult {
  /** The new file content (the same string when nothing changed). */
  readonly source: string
  /**
   * Per task, the fields of its edit that the file now reads exactly as the journal has them (written
   * now or by an earlier commit): those need not be written again.
   */
  readonly inFile: ReadonlyArray<readonly [TaskId, TaskPatch]>
  readonly leftOut: ReadonlyArray<EditLeftOut>
}

/** Description lines longer than this are cut into several (the parser skips lines over MAX_LINE_LENGTH). */
const DESCRIPTION_CHUNK = 4_000
const MANUAL_MARK = /[ \t]*\(manual\)/gi
const hasManual = (text: string): boolean => /\(manual\)/i.test(text)
const withoutManual = (title: string): string => title.replace(MANUAL_MARK, " ").replace(/\s+/g, " ").trim()
/** The separator the line puts between the id and the title (`: `, ` - `, a space). */
const SEPARATOR = /^[ \t]*[:.)\-–—]?[ \t]*/

const chunks = (line: string): Array<string> => {
  const out: Array<string> = []
  let rest = line
  while (rest.length > DESCRIPTION_CHUNK) {
    let cut = DESCRIPTION_CHUNK
    const code = rest.charCodeAt(cut - 1)
    if (code >= 0xd800 && code <= 0xdbff) cut-- // never split a surrogate pair
    out.push(rest.slice(0, cut))
    rest = rest.slice(cut)
  }
  out.push(rest)
  return out
}

/**
 * A description line as data: HTML comment markers are broken, and a line that would read as anything
 * but description text under a task (an item, a checkbox, a heading, a phase) gets a leading backslash
 * — Markdown's escape, so it still shows as written.
 */
const asDescriptionLine = (line: string): string => {
  const text = line.replace(/<!--/g, "<\\!--").replace(/-->/g, "--\\>")
  const probe = parse(`- [ ] 1 T\n  ${text}`)
  const reads = probe.tasks.length === 1 && probe.diagnostics.length === 0 && probe.tasks[0]?.description === text
  return reads ? text : `\\${text}`
}

/**
 * A title as text on an item line: what the parser would read as a marker or clause — `(manual)`,
 * `(injected)`, `Dependencies:`, an HTML comment, a leading separator — is broken with a backslash.
 */
const asTitleText = (title: string): string => {
  const text = title.replace(/<!--/g, "<\\!--").replace(/-->/g, "--\\>")
    .replace(/\((manual|injected)\)/gi, "($1\\)")
    .replace(/(dependencies|depends[ \t]+on|deps)([ \t]*):/gi, "$1$2\\:")
  return /^[:.)\-–—]/.test(text) ? `\\${text}` : text
}

/** The item line with a new title; the head (indent, bullet, checkbox, id), the dependencies clause and `(injected)` kept. */
const withTitle = (line: string, title: string): string | null => {
  const parts = itemLineParts(line)
  if (parts === null) return null
  const separator = SEPARATOR.exec(parts.text)?.[0] ?? ""
  const gap = separator.trim().length === 0 ? " " : separator
  return `${parts.head}${gap}${title}${parts.dependencies === null ? "" : ` ${parts.dependencies}`}${
    parts.injected ? " (injected)" : ""
  }`
}

/** Index (0-based) just past the description lines under the task whose line is `lines[at]`. */
const descriptionEnd = (lines: ReadonlyArray<string>, at: number, taskLines: ReadonlySet<number>): number => {
  const width = indentOf(lines[at] ?? "").length
  let end = at + 1
  for (let i = at + 1; i < lines.length; i++) {
    const line = lines[i] ?? ""
    if (isBlankLine(line)) continue
    if (taskLines.has(i + 1) || isHeadingLine(line)) break
    if (indentOf(line).length > width || /^[ \t]*[•·▪◦]/.test(line)) end = i + 1
    else break
  }
  return end
}

const sameTask = (a: Task | undefined, b: Task | undefined): boolean =>
  a !== undefined && b !== undefined && a.id === b.id && a.type === b.type && a.title === b.title &&
  a.description === b.description && a.status === b.status

/**
 * The journaled edits UPDATE_TASKLIST writes: all of them, except the status edit of a task this
 * execution completed (its completion is newer, and SELECT already lets it win).
 */
export const editsToWrite = (
  patches: ReadonlyArray<readonly [TaskId, TaskPatch]>,
  completed: ReadonlyArray<TaskId>
): Array<readonly [TaskId, TaskPatch]> =>
  patches.flatMap(([taskId, patch]) => {
    if (patch.status === undefined || !completed.includes(taskId)) return [[taskId, patch] as const]
    if (patch.title === undefined && patch.description === undefined) return []
    return [
      [
        taskId,
        new TaskPatch({
          ...(patch.title === undefined ? {} : { title: patch.title }),
          ...(patch.description === undefined ? {} : { description: patch.description })
        }, true)
      ] as const
    ]
  })

/**
 * Writes the journaled task edits into the file (UPDATE_TASKLIST): a title rewrites the task's line
 * (its head — indent, bullet, checkbox, id — its dependencies clause, `(injected)` and `(manual)` kept),
 * a description replaces the indented lines under it (each line escaped where it would read as a task,
 * checkbox, heading or comment), a status sets the checkbox: `completed` → `[x]`, `pending` /
 * `in_progress` → `[ ]` (and drops `(manual)`), `skipped` → `[ ]` with `(manual)`, the format's mark of
 * a task automation skips. Each change is parsed before it is kept: it must change that one field of that
 * one task (a status as the journal applies it: a group's `completed` covers its tasks) and nothing
 * else, diagnostics included; otherwise it is left out (`leftOut`) and stays in the journal only. A
 * field the file already reads as the edit says is not touched, so running this again changes nothing.
 */
export const applyEdits = (
  source: string,
  patches: ReadonlyArray<readonly [TaskId, TaskPatch]>
): EditsResult => {
  if (patches.length === 0) return { source, inFile: [], leftOut: [] } // the usual tick: no parse
  const eol = source.includes("\r\n") ? "\r\n" : "\n"
  const finalNewline = source.endsWith("\n")
  const join = (body: ReadonlyArray<string>) => body.join(eol) + (finalNewline ? eol : "")
  const split = (text: string) => {
    const all = text.split(/\r?\n/)
    return finalNewline ? all.slice(0, -1) : all
  }
  let lines = split(source)
  let list = parse(source)
  const leftOut: Array<EditLeftOut> = []

  /** Keeps `next` when it parses as `list` with only the expected change to `taskId`. */
  const attempt = (
    taskId: TaskId,
    next: ReadonlyArray<string>,
    expected: (before: Task, after: Task, i: number) => boolean
  ): boolean => {
    const after = parse(join(next))
    if (after.tasks.length !== list.tasks.length || after.diagnostics.length !== list.diagnostics.length) return false
    const ok = list.tasks.every((before, i) => {
      const now = after.tasks[i]
      if (now === undefined || now.id !== before.id || now.type !== before.type) return false
      if ((after.sources[i]?.parentId ?? null) !== (list.sources[i]?.parentId ?? null)) return false
      if (now.dependencies.join(" ") !== before.dependencies.join(" ")) return false
      return before.id === taskId ? expected(before, now, i) : expected(before, now, i) && sameTask(
        new Task({ ...before, status: now.status }, true),
        now
      )
    })
    if (ok) {
      lines = [...next]
      list = after
    }
    return ok
  }

  for (const [taskId, patch] of patches) {
    const at = indexOf(list, taskId)
    const task = list.tasks[at]
    const origin = list.sources[at]
    if (task === undefined || origin === undefined) {
      leftOut.push({ taskId, reason: "not in the file" })
      continue
    }
    if (origin.commented) {
      leftOut.push({ taskId, reason: "its line is inside an HTML comment" })
      continue
    }
    const lineAt = origin.line - 1
    const unchangedStatus = (before: Task, after: Task) => before.status === after.status

    if (patch.title !== undefined && task.title !== patch.title) {
      const oneLine = patch.title.replace(/\s+/g, " ").trim()
      const manual = hasManual(task.title)
      // as sent, else escaped (a clause, a marker or a comment in it is then text), else left out
      const candidates = [...new Set([oneLine, asTitleText(oneLine)])]
        .map((text) => manual && !hasManual(text) ? `${text} (manual)` : text)
      const line = withTitle(lines[lineAt] ?? "", oneLine)
      const written = line !== null && candidates.some((title) =>
        title === task.title || attempt(
          taskId,
          [...lines.slice(0, lineAt), withTitle(lines[lineAt] ?? "", title) ?? "", ...lines.slice(lineAt + 1)],
          (before, after) =>
            unchangedStatus(before, after) &&
            (before.id !== taskId || (after.title === title && after.description === before.description))
        )
      )
      if (line === null) leftOut.push({ taskId, reason: "a phase heading's title is not rewritten" })
      else if (!written) leftOut.push({ taskId, reason: "the title could not be written without changing other lines" })
    }

    const current = list.tasks[indexOf(list, taskId)]
    if (patch.description !== undefined && current !== undefined && current.description !== patch.description) {
      const taskLines = new Set(list.sources.map((s) => s.line))
      const end = descriptionEnd(lines, lineAt, taskLines)
      const existing = lines.slice(lineAt + 1, end).find((l) =>
        !isBlankLine(l) && indentOf(l).length > indentOf(lines[lineAt] ?? "").length
      )
      const indent = existing === undefined ? `${indentOf(lines[lineAt] ?? "")}  ` : indentOf(existing)
      const body = patch.description.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0)
        .flatMap(chunks).map(asDescriptionLine)
      const description = body.join("\n")
      const written = description !== current.description && attempt(
        taskId,
        [...lines.slice(0, lineAt + 1), ...body.map((l) => `${indent}${l}`), ...lines.slice(end)],
        (before, after) =>
          unchangedStatus(before, after) &&
          (before.id !== taskId || (after.title === before.title && after.description === description))
      )
      if (!written && description !== current.description) {
        leftOut.push({ taskId, reason: "the description could not be written without changing other lines" })
      }
    }

    const now = list.tasks[indexOf(list, taskId)]
    if (patch.status !== undefined && now !== undefined && now.status !== patch.status) {
      const target = patch.status === "in_progress" ? "pending" : patch.status
      const expectedStatus = TaskSelection.effective(list, [], [[taskId, new TaskPatch({ status: target }, true)]])
        .tasks.map((t) => t.status)
      let next: ReadonlyArray<string> | null = null
      if (target === "completed") {
        const marked = markCompleted(join(lines), taskId)
        if (marked._tag === "Updated") next = split(marked.source)
      } else if (now.type === "atomic" && origin.markColumn >= 0) {
        const line = lines[lineAt] ?? ""
        const column = origin.markColumn
        let edited = origin.checkbox === "checked" ? `${line.slice(0, column + 1)} ${line.slice(column + 2)}` : line
        if (target === "skipped" && !hasManual(now.title)) edited = withTitle(edited, `${now.title} (manual)`) ?? edited
        if (target === "pending" && hasManual(edited)) edited = edited.replace(MANUAL_MARK, "")
        next = [...lines.slice(0, lineAt), edited, ...lines.slice(lineAt + 1)]
      }
      const written = next !== null && target !== now.status && attempt(
        taskId,
        next,
        (before, after, i) =>
          after.status === expectedStatus[i] &&
          (before.id !== taskId ||
            (withoutManual(after.title) === withoutManual(before.title) && after.description === before.description))
      )
      if (!written && target !== now.status) {
        leftOut.push({
          taskId,
          reason: now.type === "atomic"
            ? `the file cannot say ${patch.status} here (a ticked group or a completed phase decides it)`
            : `a ${now.type}'s status is written only as completed`
        })
      }
    }
  }

  const inFile: Array<readonly [TaskId, TaskPatch]> = []
  for (const [taskId, patch] of patches) {
    const task = list.tasks[indexOf(list, taskId)]
    if (task === undefined || list.sources[indexOf(list, taskId)]?.commented === true) continue
    const fields: { title?: string; description?: string; status?: TaskStatus } = {}
    if (patch.title !== undefined && task.title === patch.title) fields.title = patch.title
    if (patch.description !== undefined && task.description === patch.description) {
      fields.description = patch.description
    }
    if (patch.status !== undefined && task.status === patch.status) fields.status = patch.status
    if (Object.keys(fields).length > 0) inFile.push([taskId, new TaskPatch(fields, true)])
  }
  const rendered = join(lines)
  return { source: rendered === source ? source : rendered, inFile, leftOut }
}
