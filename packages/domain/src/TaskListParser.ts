/**
 * The lenient task list parser (`docs/DevTeam/tasks_list.md`). It never throws: anything it cannot use
 * becomes a `{ line, message }` diagnostic and parsing goes on. Work is linear in the size of the input
 * (lines are capped in length, dependency lists in size, diagnostics in number).
 *
 * Recognised forms (see pipeline.md "The task list file"):
 * - phase headings `Phase 2: Title (Dependencies: [1])`, optionally as a markdown heading `## Phase 2: …`;
 * - items `- 2.1 Title (Dependencies: [1.2])` with bullets `-`, `*`, `+`, `1.` or `1)`, any indent, an
 *   optional checkbox `[ ]` / `[x]` / `[X]`; the parent of an item is the item whose id is its nearest
 *   prefix (`2.1` for `2.1.1`), else the phase heading above it; an item with children is a group, one
 *   without is atomic;
 * - `PHASE 1 COMPLETED` (any case) marks the whole phase completed; items inside `<!-- … -->` are kept
 *   (as completed) only when their phase is marked completed;
 * - `• …` bullets and more-indented lines under an item are appended to its description; `•` bullets
 *   (and `<criterion …>` lines) are also its criteria: `acceptance.1`, `acceptance.2`, … for free text,
 *   or by name for machine-checked ones (`test.coverage: ≥80%`, `type.strict: 0 errors`,
 *   `doc.updated: task_outcomes.md`);
 * - files: path-like backtick spans, `[name](path)` link targets and plain-text paths with a directory
 *   and an extension ("Add the flag to src/config.js") on the item's line;
 * - `(manual)` on an item's line marks a task for a person: automation skips it (status `skipped`,
 *   which counts as done for its dependents) unless its checkbox is already ticked;
 * - `(injected)` on an item's line marks a task added at run time (`POST /tasks/inject`) and written
 *   into the file when it completed (TaskListRenderer): its id may be any task id (`E1`), and its parent
 *   is the item it is indented under (else the phase above), not an id prefix.
 */
import type { TaskId } from "./Ids.js"
import * as TaskGraph from "./internal/taskGraph.js"
import type { TaskStatus, TaskType } from "./Task.js"
import { isDone, Task } from "./Task.js"
import type { CheckboxState, TaskSource } from "./TaskList.js"
import { Diagnostic, TaskList } from "./TaskList.js"

/** Lines longer than this are reported and skipped. */
export const MAX_LINE_LENGTH = 10_000
/** At most this many diagnostics are returned (plus one saying how many were left out). */
export const MAX_DIAGNOSTICS = 1_000
/** Dependencies read from one line. */
export const MAX_DEPENDENCIES_PER_LINE = 50
/** Dependencies of one task, inherited ones included. */
export const MAX_DEPENDENCIES_PER_TASK = 100
/** Criteria names checked by VERIFY; other `name: value` bullets are free text. */
export const machineCriteria: ReadonlyArray<string> = ["test.coverage", "type.strict", "doc.updated"]

/**
 * The `TaskId` rules of Ids.ts as a plain check: `Schema.is(TaskId)` costs microseconds per call, which
 * dominates parsing a large list. A test keeps the two in agreement.
 */
const TASK_ID_PATTERN = /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/
export const isTaskId = (candidate: string): candidate is TaskId =>
  candidate.length >= 1 && candidate.length <= 64 && TASK_ID_PATTERN.test(candidate)

const COMPLETED_MARKER =
  /^[ \t]*(?:#{1,6}[ \t]*)?(?:\*\*|__)?phase[ \t]+(\d{1,9})[ \t]*[:\-–—]?[ \t]*(?:is[ \t]+)?(?:completed|complete)[ \t]*(?:\*\*|__)?[ \t]*[.!]?[ \t]*$/i
const PHASE_HEADING =
  /^[ \t]*(?:#{1,6}[ \t]*)?(?:[-*+][ \t]+)?(?:\*\*|__)?phase[ \t]+(\d{1,9})(?:\*\*|__)?[ \t]*(?:[:.\-–—][ \t]*(.*))?$/i
const ITEM =
  /^([ \t]*)([-*+]|\d{1,9}[.)])([ \t]+)(?:\[(.)\][ \t]+)?(?:\*\*|__)?(\d{1,9}(?:\.\d{1,9}){0,15})\.?(?:\*\*|__)?(?=[\s:)\-–—]|$)(.*)$/
const BULLET = /^([ \t]*)([-*+]|\d{1,9}[.)])[ \t]+(?:\[(.)\][ \t]+)?(.*)$/
const CRITERION_BULLET = /^[ \t]*[•·▪◦][ \t]*(.*)$/
const MARKDOWN_HEADING = /^[ \t]*#{1,6}(?:[ \t]|$)/
/** `(Dependencies: [a, b])`, `(Dependencies: a, b)` or `Dependencies: [a, b]`; never a bare `deps: …` in prose. */
const DEPENDENCIES_IN_PARENS =
  /\([ \t]*(?:dependencies|depends[ \t]+on|deps)[ \t]*:[ \t]*\[?([^()[\]\n]{0,2000})\]?[ \t]*\)/i
const DEPENDENCIES_IN_BRACKETS = /(?:dependencies|depends[ \t]+on|deps)[ \t]*:[ \t]*\[([^[\]\n]{0,2000})\]/i
const CRITERION_WRAPPER = /^<\s*(?:criterion(?:[ \t]+\d{1,9})?[ \t]*:[ \t]*)?([\s\S]*?)\s*>$/i
const MACHINE_CRITERION = /^`?([a-z]+(?:\.[a-z_]+)+)`?[ \t]*[:=][ \t]*(.+)$/
const BACKTICK = /`([^`\n]{1,300})`/g
/** A plain-text path: a directory, a name and an extension (`src/config.js`, `./lib/a.test.ts`). */
const PLAIN_PATH =
  /(?:^|[\s(])((?:\.{1,2}\/)?[A-Za-z0-9_@.-]{1,100}(?:\/[A-Za-z0-9_@.-]{1,100}){1,20}\.[A-Za-z][A-Za-z0-9]{0,9})(?=$|[\s,;:)!?]|\.(?:\s|$))/g
/** Marks a task for a person (see the header). */
const MANUAL = /\(manual\)/i
/** Marks a task written back from the journal (see the header); its id need not be a dotted number. */
const INJECTED = /[ \t]*\(injected\)/i
const INJECTED_ITEM =
  /^([ \t]*)([-*+]|\d{1,9}[.)])([ \t]+)(?:\[(.)\][ \t]+)?(?:\*\*|__)?([A-Za-z0-9]+(?:[._-][A-Za-z0-9]+){0,63})(?:\*\*|__)?(?=[\s:)\-–—]|$)(.*)$/
const LINK = /\[[^\]\n]{0,300}\]\(([^()\s]{1,500})(?:[ \t]+"[^"\n]{0,300}")?\)/g

/**
 * An item line cut where its text begins (after the indent, bullet, checkbox and id), and the parts of
 * that text that are not its title: the dependencies clause and `(injected)`, as written. For
 * TaskListRenderer, which rewrites a title and keeps the rest of the line. null for a non-item line.
 */
export const itemLineParts = (line: string): {
  readonly head: string
  readonly text: string
  readonly dependencies: string | null
  readonly injected: boolean
} | null => {
  const item = ITEM.exec(line) ?? (INJECTED.test(line) ? INJECTED_ITEM.exec(line) : null)
  if (item === null) return null
  const text = item[6] ?? ""
  const injected = INJECTED.test(text)
  const rest = injected ? text.replace(INJECTED, "") : text
  const clause = /dep/i.test(rest) ? DEPENDENCIES_IN_PARENS.exec(rest) ?? DEPENDENCIES_IN_BRACKETS.exec(rest) : null
  return { head: line.slice(0, line.length - text.length), text, dependencies: clause?.[0] ?? null, injected }
}

/** A line that ends the description above it: a Markdown heading, a phase heading or a `PHASE n COMPLETED` line. */
export const isHeadingLine = (line: string): boolean =>
  MARKDOWN_HEADING.test(line) || COMPLETED_MARKER.test(line) || PHASE_HEADING.test(line)

const EMPTY: ReadonlyArray<string> = Object.freeze([])
const EMPTY_IDS: ReadonlyArray<TaskId> = Object.freeze([])
const EMPTY_CRITERIA: Readonly<Record<string, string>> = Object.freeze({})

/** Description lines and criteria beyond these caps are dropped (reported once per task). */
export const MAX_DESCRIPTION_LINES = 500
export const MAX_CRITERIA = 100

/** Appends a description line; false when the task already has too many. */
const appendDescription = (node: RawNode, line: string): boolean => {
  if (node.descriptionLines === null) node.descriptionLines = [line]
  else if (node.descriptionLines.length < MAX_DESCRIPTION_LINES) node.descriptionLines.push(line)
  else return false
  return true
}

const setCriterion = (node: RawNode, name: string, value: string): void => {
  if (node.criteria === null) node.criteria = {}
  if (name in node.criteria) node.criteria[name] = value
  else if (node.criteriaCount < MAX_CRITERIA) {
    node.criteria[name] = value
    node.criteriaCount++
  }
}

interface RawNode {
  readonly kind: "phase" | "item"
  readonly id: TaskId
  readonly line: number
  readonly indent: number
  readonly title: string
  readonly declared: ReadonlyArray<TaskId>
  readonly checkbox: CheckboxState
  readonly markColumn: number
  readonly commented: boolean
  /** Number of the phase heading in effect at this line (0 before any). */
  readonly phaseNumber: number
  /** Raw index of that phase heading, -1 before any. */
  readonly phaseRaw: number
  readonly files: ReadonlyArray<string>
  /** `(manual)`: a task for a person, skipped by automation. */
  readonly manual: boolean
  /** `(injected)`: a task written back from the journal; its parent is found by indentation. */
  readonly injected: boolean
  /** Allocated on first use: most tasks have neither. */
  descriptionLines: Array<string> | null
  criteria: Record<string, string> | null
  criteriaCount: number
  freeCriteria: number
  /** A cap on description lines was hit (reported once). */
  truncated: boolean
}

class Diagnostics {
  readonly list: Array<Diagnostic> = []
  omitted = 0
  add(line: number, message: string): void {
    if (this.list.length < MAX_DIAGNOSTICS) this.list.push(new Diagnostic({ line, message }, true))
    else this.omitted++
  }
  result(): Array<Diagnostic> {
    return this.omitted === 0
      ? this.list
      : [...this.list, new Diagnostic({ line: 0, message: `${this.omitted} more diagnostics omitted` }, true)]
  }
}

/** Splits a line into its text outside and inside HTML comments, both the same length as the line. */
const maskComments = (
  line: string,
  inComment: boolean
): { readonly visible: string; readonly hidden: string; readonly inComment: boolean } => {
  if (!inComment && !line.includes("<!--")) return { visible: line, hidden: "", inComment }
  if (inComment && !line.includes("-->")) return { visible: "", hidden: line, inComment }
  let visible = ""
  let hidden = ""
  let pos = 0
  let state = inComment
  while (pos < line.length) {
    if (state) {
      const end = line.indexOf("-->", pos)
      const stop = end < 0 ? line.length : end
      hidden += line.slice(pos, stop)
      visible += " ".repeat(stop - pos)
      if (end < 0) {
        pos = line.length
      } else {
        hidden += "   "
        visible += "   "
        pos = end + 3
        state = false
      }
    } else {
      const start = line.indexOf("<!--", pos)
      const stop = start < 0 ? line.length : start
      visible += line.slice(pos, stop)
      hidden += " ".repeat(stop - pos)
      if (start < 0) {
        pos = line.length
      } else {
        visible += "    "
        hidden += "    "
        pos = start + 4
        state = true
      }
    }
  }
  return { visible, hidden, inComment: state }
}

const isBlank = (text: string): boolean => {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c !== 32 && c !== 9 && c !== 13 && c !== 10 && c !== 12 && c !== 11) return false
  }
  return true
}

const leadingWhitespace = (text: string): number => {
  let i = 0
  while (i < text.length && (text[i] === " " || text[i] === "\t")) i++
  return i
}

const isPathLike = (candidate: string): boolean =>
  candidate.length > 0 &&
  !/\s/.test(candidate) &&
  !candidate.startsWith("-") &&
  !/^[a-z][a-z0-9+.-]*:/i.test(candidate) &&
  (candidate.includes("/") || /\.[A-Za-z][A-Za-z0-9]{0,9}$/.test(candidate))

const filesOf = (text: string): ReadonlyArray<string> => {
  if (!text.includes("`") && !text.includes("](") && !text.includes("/")) return EMPTY
  const files: Array<string> = []
  const add = (file: string) => {
    if (isPathLike(file) && !files.includes(file)) files.push(file)
  }
  if (text.includes("/")) {
    // outside backticks and links (those are read below, whole)
    const plain = text.replace(BACKTICK, " ").replace(LINK, " ")
    for (const match of plain.matchAll(PLAIN_PATH)) add((match[1] ?? "").replace(/^\.\//, ""))
  }
  if (text.includes("`")) { for (const match of text.matchAll(BACKTICK)) add(match[1] ?? "") }
  if (text.includes("](")) {
    for (const match of text.matchAll(LINK)) {
      const target = (match[1] ?? "").replace(/[#?].*$/, "")
      add(target)
    }
  }
  return files
}

/** Extracts the `(Dependencies: [a, b])` clause: the ids, the text without it, and bad entries. */
const dependenciesOf = (
  text: string,
  line: number,
  diagnostics: Diagnostics
): { readonly text: string; readonly dependencies: ReadonlyArray<TaskId> } => {
  if (!/dep/i.test(text)) return { text, dependencies: EMPTY_IDS }
  const match = DEPENDENCIES_IN_PARENS.exec(text) ?? DEPENDENCIES_IN_BRACKETS.exec(text)
  if (match === null) return { text, dependencies: EMPTY_IDS }
  const body = (match[1] ?? "").replace(/\bphase[ \t]+(\d)/gi, "$1")
  const dependencies: Array<TaskId> = []
  for (const entry of body.split(/[\s,;]+/)) {
    if (entry.length === 0 || /^(?:none|n\/a|-|—)$/i.test(entry)) continue
    if (dependencies.length >= MAX_DEPENDENCIES_PER_LINE) {
      diagnostics.add(line, `more than ${MAX_DEPENDENCIES_PER_LINE} dependencies; the rest are ignored`)
      break
    }
    if (isTaskId(entry)) {
      if (!dependencies.includes(entry)) dependencies.push(entry)
    } else {
      diagnostics.add(line, `invalid dependency id "${entry.slice(0, 80)}"; ignored`)
    }
  }
  const rest = (text.slice(0, match.index) + text.slice(match.index + match[0].length)).trim()
  return { text: rest, dependencies }
}

const cleanTitle = (text: string): string => text.replace(/^[ \t]*[:.)\-–—][ \t]*/, "").trim()

const addCriterion = (node: RawNode, rawText: string): void => {
  let text = rawText.trim()
  const wrapped = CRITERION_WRAPPER.exec(text)
  if (wrapped !== null) text = (wrapped[1] ?? "").trim()
  if (text.length === 0) return
  const machine = MACHINE_CRITERION.exec(text)
  const name = machine?.[1]
  if (machine !== null && name !== undefined && machineCriteria.includes(name)) {
    setCriterion(node, name, (machine[2] ?? "").trim())
    return
  }
  node.freeCriteria++
  setCriterion(node, `acceptance.${node.freeCriteria}`, text)
}

interface Scan {
  readonly nodes: Array<RawNode>
  readonly completedPhases: Set<number>
}

const scan = (source: string, diagnostics: Diagnostics): Scan => {
  const nodes: Array<RawNode> = []
  const completedPhases = new Set<number>()
  let inComment = false
  let phaseNumber = 0
  let phaseRaw = -1
  let current: RawNode | undefined
  let start = 0
  let lineNo = 0
  while (start <= source.length) {
    const newline = source.indexOf("\n", start)
    const end = newline < 0 ? source.length : newline
    lineNo++
    let raw = source.slice(start, end)
    start = end + 1
    if (raw.endsWith("\r")) raw = raw.slice(0, -1)
    if (lineNo === 1 && raw.startsWith("\uFEFF")) raw = " " + raw.slice(1)
    const masked = maskComments(raw, inComment)
    inComment = masked.inComment
    if (raw.length > MAX_LINE_LENGTH) {
      diagnostics.add(lineNo, `line is too long (${raw.length} characters, at most ${MAX_LINE_LENGTH}); ignored`)
      current = undefined
      if (newline < 0) break
      continue
    }
    const useVisible = !isBlank(masked.visible)
    const commented = !useVisible
    const text = useVisible ? masked.visible : masked.hidden
    if (isBlank(text)) {
      if (newline < 0) break
      continue
    }
    // Cheap dispatch on the first character before trying the heavier patterns.
    const first = text[leadingWhitespace(text)] ?? ""
    const mayBePhase = /[#*_+\-pP]/.test(first)
    const completed = mayBePhase ? COMPLETED_MARKER.exec(text) : null
    const phase = mayBePhase && completed === null ? PHASE_HEADING.exec(text) : null
    const bulleted = completed === null && phase === null && /[-*+0-9]/.test(first)
    const item = bulleted ? ITEM.exec(text) ?? (INJECTED.test(text) ? INJECTED_ITEM.exec(text) : null) : null
    if (completed !== null) {
      // A marker that is itself commented out does not count.
      if (!commented) completedPhases.add(Number(completed[1]))
      current = undefined
    } else if (phase !== null) {
      const number = Number(phase[1])
      const id = String(number)
      const parsed = dependenciesOf(phase[2] ?? "", lineNo, diagnostics)
      if (!isTaskId(id)) {
        diagnostics.add(lineNo, "phase number is not a valid task id; ignored")
      } else {
        phaseNumber = number
        phaseRaw = nodes.length
        nodes.push({
          kind: "phase",
          id,
          line: lineNo,
          indent: leadingWhitespace(text),
          title: cleanTitle(parsed.text) || `Phase ${number}`,
          declared: parsed.dependencies,
          checkbox: "none",
          markColumn: -1,
          commented,
          phaseNumber: number,
          phaseRaw: nodes.length,
          files: EMPTY,
          manual: false,
          injected: false,
          descriptionLines: null,
          criteria: null,
          criteriaCount: 0,
          freeCriteria: 0,
          truncated: false
        })
      }
      current = undefined
    } else if (item !== null) {
      const indent = item[1] ?? ""
      const bullet = item[2] ?? ""
      const gap = item[3] ?? ""
      const mark = item[4]
      const id = item[5] ?? ""
      const rest = item[6] ?? ""
      let checkbox: CheckboxState = "none"
      if (mark !== undefined) {
        if (mark === "x" || mark === "X") checkbox = "checked"
        else {
          checkbox = "unchecked"
          if (mark !== " ") diagnostics.add(lineNo, `unknown checkbox mark "[${mark}]"; read as pending`)
        }
      }
      if (!isTaskId(id)) {
        diagnostics.add(lineNo, "task id is too long (at most 64 characters); ignored")
        current = undefined
      } else {
        const injected = INJECTED.test(rest)
        const parsed = dependenciesOf(injected ? rest.replace(INJECTED, "") : rest, lineNo, diagnostics)
        const title = cleanTitle(parsed.text)
        if (title.length === 0) diagnostics.add(lineNo, `task ${id} has no title`)
        const node: RawNode = {
          kind: "item",
          id,
          line: lineNo,
          indent: indent.length,
          title: title.length === 0 ? id : title,
          declared: parsed.dependencies,
          checkbox,
          markColumn: indent.length + bullet.length + gap.length,
          commented,
          phaseNumber,
          phaseRaw,
          files: filesOf(rest),
          manual: MANUAL.test(rest),
          injected,
          descriptionLines: null,
          criteria: null,
          criteriaCount: 0,
          freeCriteria: 0,
          truncated: false
        }
        nodes.push(node)
        current = node
      }
    } else {
      const indent = leadingWhitespace(text)
      const criterion = CRITERION_BULLET.exec(text)
      const bullet = criterion === null ? BULLET.exec(text) : null
      if (criterion !== null) {
        if (current === undefined) {
          diagnostics.add(lineNo, "acceptance criterion outside of any task; ignored")
        } else if (appendDescription(current, text.trim())) {
          addCriterion(current, criterion[1] ?? "")
        } else if (!current.truncated) {
          current.truncated = true
          diagnostics.add(
            lineNo,
            `task ${current.id} has more than ${MAX_DESCRIPTION_LINES} description lines; the rest are ignored`
          )
        }
      } else if (MARKDOWN_HEADING.test(text)) {
        current = undefined
      } else if (current !== undefined && indent > current.indent) {
        const body = (bullet?.[4] ?? "").trim()
        if (!appendDescription(current, text.trim())) {
          if (!current.truncated) {
            current.truncated = true
            diagnostics.add(
              lineNo,
              `task ${current.id} has more than ${MAX_DESCRIPTION_LINES} description lines; the rest are ignored`
            )
          }
        } else if (/^<\s*criterion\b/i.test(body)) addCriterion(current, body)
        else {
          const machine = MACHINE_CRITERION.exec(body)
          if (machine !== null && machineCriteria.includes(machine[1] ?? "")) addCriterion(current, body)
        }
      } else {
        if (bullet?.[3] !== undefined) diagnostics.add(lineNo, "checkbox item without a task id; ignored")
        current = undefined
      }
    }
    if (newline < 0) break
  }
  return { nodes, completedPhases }
}

const dedupe = (ids: ReadonlyArray<TaskId>): Array<TaskId> => [...new Set(ids)]

/** Parses a task list. Never throws; problems are in `diagnostics`. */
export const parse = (source: string): TaskList => {
  const diagnostics = new Diagnostics()
  const { completedPhases, nodes: raw } = scan(source, diagnostics)

  // Commented-out items survive only when their phase is marked completed.
  const dropped = new Set<string>()
  const kept: Array<RawNode> = []
  const byId = new Map<string, number>()
  const rawToKept = new Int32Array(raw.length).fill(-1)
  raw.forEach((node, r) => {
    if (node.commented && !completedPhases.has(node.phaseNumber)) {
      dropped.add(node.id)
      return
    }
    const first = byId.get(node.id)
    if (first !== undefined) {
      const firstLine = kept[first]?.line ?? 0
      diagnostics.add(node.line, `duplicate task id ${node.id} (first defined on line ${firstLine}); ignored`)
      return
    }
    rawToKept[r] = kept.length
    byId.set(node.id, kept.length)
    kept.push(node)
  })

  // Parents: the nearest id prefix seen so far, else the phase heading above; an injected item's is the
  // item it is indented under (its id says nothing about where it was placed).
  const parent = new Int32Array(kept.length).fill(-1)
  const hasChild = new Uint8Array(kept.length)
  kept.forEach((node, i) => {
    if (node.kind === "phase") return
    let p = -1
    if (node.injected) {
      for (let j = i - 1; j >= 0 && p < 0; j--) {
        const above = kept[j]
        if (above === undefined || above.phaseRaw !== node.phaseRaw || above.kind === "phase") break
        if (above.indent < node.indent) p = j
      }
      if (p < 0 && node.phaseRaw >= 0) p = rawToKept[node.phaseRaw] ?? -1
      parent[i] = p
      if (p >= 0) hasChild[p] = 1
      return
    }
    let prefix: string = node.id
    for (let dot = prefix.lastIndexOf("."); dot > 0 && p < 0; dot = prefix.lastIndexOf(".")) {
      prefix = prefix.slice(0, dot)
      const candidate = byId.get(prefix)
      if (candidate !== undefined && candidate < i) p = candidate
    }
    if (p < 0 && node.phaseRaw >= 0) p = rawToKept[node.phaseRaw] ?? -1
    parent[i] = p
    if (p >= 0) hasChild[p] = 1
  })

  const types: Array<TaskType> = kept.map((node, i) =>
    node.kind === "phase" ? "phase" : hasChild[i] === 1 ? "group" : "atomic"
  )

  // Phase numbers, forced completion (phase marked completed, checked group) and inherited dependencies.
  const phaseOf = new Int32Array(kept.length)
  const forced = new Uint8Array(kept.length)
  const chain: Array<ReadonlyArray<TaskId>> = []
  const dependencies: Array<ReadonlyArray<TaskId>> = []
  const lastAtomicChild = new Int32Array(kept.length).fill(-1)
  kept.forEach((node, i) => {
    const p = parent[i] ?? -1
    phaseOf[i] = node.kind === "phase" ? Number(node.id) : p >= 0 ? (phaseOf[p] ?? 0) : node.phaseNumber
    const parentForced = p >= 0 && forced[p] === 1
    forced[i] = parentForced || completedPhases.has(phaseOf[i] ?? 0) || node.checkbox === "checked" ? 1 : 0
    const inherited = p >= 0 ? (chain[p] ?? []) : []
    let own = node.declared.length === 0 ? inherited : dedupe([...inherited, ...node.declared])
    if (own.length > MAX_DEPENDENCIES_PER_TASK) {
      diagnostics.add(
        node.line,
        `task ${node.id} has more than ${MAX_DEPENDENCIES_PER_TASK} dependencies; the rest are ignored`
      )
      own = own.slice(0, MAX_DEPENDENCIES_PER_TASK)
    }
    chain.push(own)
    if (types[i] === "atomic" && p >= 0 && types[p] === "group") {
      const previous = lastAtomicChild[p] ?? -1
      const sibling = kept[previous]
      if (sibling !== undefined && !own.includes(sibling.id)) own = [...own, sibling.id]
      lastAtomicChild[p] = i
    }
    dependencies.push(own)
    for (const dependency of node.declared) {
      if (byId.has(dependency)) continue
      diagnostics.add(
        node.line,
        dropped.has(dependency)
          ? `dependency ${dependency} of ${node.id} is commented out and its phase is not marked completed; ${node.id} waits on it`
          : `unknown dependency ${dependency} of ${node.id}; ${node.id} waits on it`
      )
    }
  })

  // Statuses: atomic from its checkbox or a completed phase/group; containers when all children are done.
  const statuses: Array<TaskStatus> = kept.map((node, i) =>
    forced[i] === 1 ? "completed" : node.manual && types[i] === "atomic" ? "skipped" : "pending"
  )
  const containerDone = kept.map((_, i) => types[i] !== "atomic")
  for (let i = kept.length - 1; i >= 0; i--) {
    const done = types[i] === "atomic" ? isDone(statuses[i] ?? "pending") : containerDone[i] === true
    if (types[i] !== "atomic") statuses[i] = done ? "completed" : "pending"
    const p = parent[i] ?? -1
    if (p >= 0 && !done) containerDone[p] = false
  }

  const tasks = kept.map((node, i) =>
    new Task({
      id: node.id,
      title: node.title,
      description: node.descriptionLines === null ? "" : node.descriptionLines.join("\n"),
      type: types[i] ?? "atomic",
      dependencies: dependencies[i] ?? [],
      files: node.files,
      criteria: node.criteria ?? EMPTY_CRITERIA,
      phase: phaseOf[i] ?? 0,
      status: statuses[i] ?? "pending"
    }, true)
  )
  const sources = kept.map((node, i) => {
    const p = parent[i] ?? -1
    const source: TaskSource = {
      line: node.line,
      parentId: kept[p]?.id ?? null,
      declaredDependencies: node.declared,
      checkbox: node.checkbox,
      markColumn: node.markColumn,
      commented: node.commented,
      injected: node.injected
    }
    return source
  })

  const graph = TaskGraph.build(
    byId,
    tasks.map((task, i) => ({
      id: task.id,
      type: task.type,
      status: task.status,
      parent: parent[i] ?? -1,
      dependencies: task.dependencies,
      line: kept[i]?.line ?? 0
    }))
  )
  for (const cycle of TaskGraph.findCycles(graph, TaskGraph.initialDone(graph))) {
    diagnostics.add(TaskGraph.cycleLine(graph, cycle), TaskGraph.cycleMessage(graph, cycle))
  }

  return new TaskList({ tasks, sources, diagnostics: diagnostics.result() }, true)
}
