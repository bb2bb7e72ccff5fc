import { TaskId } from "@devteam/domain/Ids"
import type { InjectedTask } from "@devteam/domain/Injection"
import { TaskPatch } from "@devteam/domain/Injection"
import { parse } from "@devteam/domain/TaskListParser"
import type { MarkResult } from "@devteam/domain/TaskListRenderer"
import { addInjected, applyEdits, markCompleted } from "@devteam/domain/TaskListRenderer"
import type { InjectionRequest } from "@devteam/domain/TaskSelection"
import * as TaskSelection from "@devteam/domain/TaskSelection"
import { assert, describe, it } from "@effect/vitest"
import { Either, FastCheck } from "effect"
import { readFileSync } from "node:fs"

const seed = readFileSync(new URL("fixtures/seed-tasks_list.md", import.meta.url), "utf8")
const id = (value: string): TaskId => TaskId.make(value)

const updated = (result: MarkResult): string => {
  assert.strictEqual(result._tag, "Updated")
  return result._tag === "Updated" ? result.source : ""
}

/** Indexes of the lines that differ; both texts must have the same number of lines. */
const changedLines = (before: string, after: string): Array<number> => {
  const a = before.split("\n")
  const b = after.split("\n")
  assert.strictEqual(a.length, b.length, "line count unchanged")
  return a.flatMap((line, i) => line === b[i] ? [] : [i])
}

describe("TaskListRenderer.markCompleted", () => {
  const cases: ReadonlyArray<readonly [string, string, string, string]> = [
    ["checkbox", "- [ ] 2.1.1 T\n", "2.1.1", "- [x] 2.1.1 T\n"],
    ["no checkbox", "- 2.1.1 T\n", "2.1.1", "- [x] 2.1.1 T\n"],
    [
      "indented, numbered bullet",
      "Phase 2: P\n- 2.1 G\n   3. 2.1.1 T\n",
      "2.1.1",
      "Phase 2: P\n- 2.1 G\n   3. [x] 2.1.1 T\n"
    ],
    ["tab after bullet", "*\t[ ]\t7 T", "7", "*\t[x]\t7 T"],
    ["CRLF, no trailing newline", "a\r\n- [ ] 1 T\r\n- [ ] 2 U", "2", "a\r\n- [ ] 1 T\r\n- [x] 2 U"],
    ["CRLF, the middle line", "a\r\n- 1 T\r\n- [ ] 2 U\r\n", "1", "a\r\n- [x] 1 T\r\n- [ ] 2 U\r\n"],
    ["odd checkbox mark", "- [-] 1 T\n", "1", "- [x] 1 T\n"],
    ["a group (marks everything inside)", "- 1 G\n  - 1.1 a\n", "1", "- [x] 1 G\n  - 1.1 a\n"],
    ["BOM on the first line", "\uFEFF- [ ] 1 T\n", "1", "\uFEFF- [x] 1 T\n"],
    [
      "a commented-out copy above the real line is left alone",
      "<!-- - [ ] 1 Old -->\n- [ ] 1 New\n",
      "1",
      "<!-- - [ ] 1 Old -->\n- [x] 1 New\n"
    ],
    ["an inline comment on the line", "- [ ] 1 T <!-- [ ] -->\n", "1", "- [x] 1 T <!-- [ ] -->\n"]
  ]
  for (const [name, before, taskId, after] of cases) {
    it(name, () => {
      const result = updated(markCompleted(before, id(taskId)))
      assert.strictEqual(result, after)
      assert.strictEqual(markCompleted(result, id(taskId))._tag, "AlreadyCompleted")
      assert.strictEqual(parse(result).tasks.find((t) => t.id === taskId)?.status, "completed")
    })
  }

  it("is idempotent and leaves unknown, phase and commented tasks alone", () => {
    assert.strictEqual(markCompleted("- [x] 1 T\n", id("1"))._tag, "AlreadyCompleted")
    assert.strictEqual(markCompleted("- [X] 1 T\n", id("1"))._tag, "AlreadyCompleted")
    assert.strictEqual(markCompleted("- [ ] 1 T\n", id("E1"))._tag, "NotInFile")
    assert.strictEqual(markCompleted("", id("1"))._tag, "NotInFile")
    assert.strictEqual(markCompleted("Phase 1: P\n- 1.1 a\n", id("1"))._tag, "NotMarkable")
    assert.strictEqual(markCompleted("<!--\n- [ ] 1 T\n-->\n", id("1"))._tag, "NotInFile")
    assert.strictEqual(
      markCompleted("<!--\nPhase 1: P\n- [ ] 1.1 T\n-->\nPHASE 1 COMPLETED\n", id("1.1"))._tag,
      "AlreadyCompleted"
    )
  })

  it("on the seed file changes exactly the task's line", () => {
    const after = updated(markCompleted(seed, id("2.1.1")))
    assert.deepStrictEqual(changedLines(seed, after), [35])
    assert.strictEqual(after.split("\n")[35], "  - [x] 2.1.1 Add router mount for events in API")
    assert.strictEqual(after.length, seed.length + 4)
    assert.strictEqual(markCompleted(seed, id("1.1.1"))._tag, "AlreadyCompleted")
    assert.strictEqual(markCompleted(after, id("2.1.1"))._tag, "AlreadyCompleted")
    const next = updated(markCompleted(after, id("9.2.1")))
    assert.deepStrictEqual(changedLines(after, next), [182])
    assert.isFalse(next.endsWith("\n"))
  })
})

const itemArbitrary = FastCheck.record({
  bullet: FastCheck.constantFrom("-", "*", "+", "1.", "12)"),
  indent: FastCheck.constantFrom("", "  ", "    ", "\t"),
  gap: FastCheck.constantFrom(" ", "  ", "\t"),
  box: FastCheck.constantFrom("", "[ ] ", "[x] ", "[X] ", "[ ]\t"),
  title: FastCheck.stringMatching(/^[A-Za-z][\w ,.`/()[\]-]{0,30}$/),
  criteria: FastCheck.array(FastCheck.constantFrom("• <criterion 1: works>", "• test.coverage: ≥80%", "note"), {
    maxLength: 2
  })
})

type Item = typeof itemArbitrary extends FastCheck.Arbitrary<infer T> ? T : never

const documentArbitrary = FastCheck.record({
  eol: FastCheck.constantFrom("\n", "\r\n"),
  trailingNewline: FastCheck.boolean(),
  commentedPhase: FastCheck.boolean(),
  phases: FastCheck.array(
    FastCheck.record({
      heading: FastCheck.constantFrom("Phase", "## Phase", "### Phase"),
      groups: FastCheck.array(
        FastCheck.record({ group: itemArbitrary, tasks: FastCheck.array(itemArbitrary, { maxLength: 4 }) }),
        { minLength: 1, maxLength: 3 }
      )
    }),
    { minLength: 1, maxLength: 3 }
  ),
  pick: FastCheck.nat()
}).map((doc) => {
  const lines: Array<string> = ["# Task list", ""]
  const render = (item: Item, taskId: string, extraIndent: string) => [
    `${extraIndent}${item.indent}${item.bullet}${item.gap}${item.box}${taskId} ${item.title}`,
    ...item.criteria.map((c) => `${extraIndent}${item.indent}      ${c}`)
  ]
  if (doc.commentedPhase) {
    lines.push("<!-- Phase 1: Old", "- 1.1 Old group", "  - [ ] 1.1.1 Old task -->", "PHASE 1 COMPLETED", "")
  }
  doc.phases.forEach((phase, p) => {
    const n = p + 2
    const dependsOnPrevious = n > 2 || doc.commentedPhase
    lines.push(`${phase.heading} ${n}: Phase ${n}${dependsOnPrevious ? ` (Dependencies: [${n - 1}])` : ""}`, "")
    phase.groups.forEach((group, g) => {
      lines.push(...render(group.group, `${n}.${g + 1}`, ""))
      group.tasks.forEach((task, t) => lines.push(...render(task, `${n}.${g + 1}.${t + 1}`, "  ")))
      lines.push("")
    })
  })
  const source = lines.join(doc.eol) + (doc.trailingNewline ? doc.eol : "")
  return { source, pick: doc.pick }
})

describe("TaskListRenderer properties", () => {
  it.prop(
    "marking a task changes exactly its line, byte-identical elsewhere; marking twice is idempotent",
    [documentArbitrary],
    ([{ pick, source }]) => {
      const list = parse(source)
      assert.deepStrictEqual(list.diagnostics, [])
      const candidates = list.tasks.flatMap((task, i) =>
        task.type === "phase" ? [] : [[task, list.sources[i]] as const]
      )
      const [task, origin] = candidates[pick % candidates.length] ?? []
      if (task === undefined || origin === undefined) return
      const result = markCompleted(source, task.id)
      if (task.status === "completed") {
        assert.strictEqual(result._tag, "AlreadyCompleted")
        return
      }
      const after = updated(result)
      assert.deepStrictEqual(changedLines(source, after), [origin.line - 1])
      const lineBefore = source.split("\n")[origin.line - 1] ?? ""
      const lineAfter = after.split("\n")[origin.line - 1] ?? ""
      assert.strictEqual(lineAfter.length - lineBefore.length, origin.checkbox === "none" ? 4 : 0)
      assert.include(lineAfter, `[x]`)
      assert.strictEqual(lineAfter.endsWith("\r"), lineBefore.endsWith("\r"))
      assert.strictEqual(after.endsWith("\n"), source.endsWith("\n"))
      const reparsed = parse(after)
      assert.strictEqual(reparsed.tasks.find((t) => t.id === task.id)?.status, "completed")
      assert.deepStrictEqual(reparsed.tasks.map((t) => t.id), list.tasks.map((t) => t.id))
      assert.strictEqual(markCompleted(after, task.id)._tag, "AlreadyCompleted")
    },
    { fastCheck: { numRuns: 300 } }
  )
})

describe("TaskListRenderer.addInjected", () => {
  const list = `# Tasks

Phase 1: Foundations

- 1.1 Setup
  - [x] 1.1.1 Create the project skeleton
  - [ ] 1.1.2 Add a README
    With a usage section.
    • doc.updated: README.md

Phase 2: Features (Dependencies: [1])

- 2.1 Greeting
  - [ ] 2.1.1 Add the greeting
  - [ ] 2.1.2 Document the greeting
`
  const inject = (source: string, request: InjectionRequest, existing: ReadonlyArray<InjectedTask> = []) => {
    const placed = TaskSelection.placeInjection(parse(source), existing, [], request)
    assert.isTrue(Either.isRight(placed))
    if (Either.isLeft(placed)) throw placed.left
    return placed.right.injection
  }
  const request = (mode: InjectionRequest["mode"], fields: Partial<InjectionRequest> = {}): InjectionRequest => ({
    mode,
    task: { id: id("E1"), title: "Write a changelog", description: "Keep a changelog.\n\nOne entry per task." },
    ...fields
  })
  /** Writes the injected task into `source` as UPDATE_TASKLIST does, after checking nothing else moved. */
  const write = (source: string, injection: InjectedTask) => {
    const task = TaskSelection.effectiveTasks(parse(source), [injection]).find((t) => t.id === injection.task.id)
    assert.isDefined(task)
    if (task === undefined) return source
    const after = updated(addInjected(source, task, injection))
    const reparsed = parse(after)
    assert.deepStrictEqual(reparsed.diagnostics, [])
    const written = reparsed.tasks.find((t) => t.id === injection.task.id)
    assert.strictEqual(written?.status, "completed")
    assert.strictEqual(written?.title, injection.task.title)
    assert.strictEqual(written?.type, "atomic")
    // idempotent: a re-run of UPDATE_TASKLIST finds it written
    assert.strictEqual(addInjected(after, task, injection)._tag, "AlreadyCompleted")
    // the other lines are untouched
    const lines = (text: string) => text.split(/\r?\n/)
    const added = lines(after).filter((line) => !lines(source).includes(line))
    assert.strictEqual(added.length, lines(after).length - lines(source).length)
    return after
  }
  /** The effective order and statuses, with the injected task completed. */
  const effectiveView = (source: string, injections: ReadonlyArray<InjectedTask>) =>
    TaskSelection.effective(parse(source), injections, [[id("E1"), { status: "completed" }]]).tasks.map((t) =>
      `${t.id}:${t.status}`
    )

  it("positional: after its anchor's subtree, in the anchor's group; the effective list is unchanged", () => {
    const injection = inject(list, request("positional", { afterTaskId: id("1.1.2") }))
    const after = write(list, injection)
    assert.include(
      after,
      "  - [ ] 1.1.2 Add a README\n    With a usage section.\n    • doc.updated: README.md\n" +
        "  - [x] E1 Write a changelog (injected)\n    Keep a changelog.\n    One entry per task.\n\nPhase 2"
    )
    const reparsed = parse(after)
    const at = reparsed.tasks.findIndex((t) => t.id === "E1")
    assert.strictEqual(reparsed.sources[at]?.parentId, "1.1")
    assert.strictEqual(reparsed.tasks[at]?.description, "Keep a changelog.\nOne entry per task.")
    assert.deepStrictEqual(effectiveView(after, [injection]), effectiveView(list, [injection]))
    assert.deepStrictEqual(TaskSelection.plan(parse(after), [injection]).diagnostics, [])
  })

  it("positional after a group: after the whole group, at the group's level", () => {
    const injection = inject(list, request("positional", { afterTaskId: id("2.1") }))
    const after = write(list, injection)
    assert.isTrue(after.endsWith(
      "  - [ ] 2.1.2 Document the greeting\n- [x] E1 Write a changelog (injected)\n" +
        "  Keep a changelog.\n  One entry per task.\n"
    ))
    assert.deepStrictEqual(effectiveView(after, [injection]), effectiveView(list, [injection]))
  })

  it("replace: right after the replaced task, which stays in the file and stays skipped", () => {
    const injection = inject(list, request("replace", { replaceTaskId: id("2.1.1") }))
    const after = write(list, injection)
    assert.include(after, "  - [ ] 2.1.1 Add the greeting\n  - [x] E1 Write a changelog (injected)\n")
    assert.deepStrictEqual(effectiveView(after, [injection]), effectiveView(list, [injection]))
    assert.include(effectiveView(after, [injection]), "2.1.1:skipped")
    const next = TaskSelection.select(parse(after), [injection])
    assert.strictEqual(next._tag === "Selected" ? next.task.id : next._tag, "1.1.2")
  })

  it("priority: before the first task still to do when it ran", () => {
    const injection = inject(list, request("priority"))
    const after = write(list, injection)
    assert.include(after, "  - [x] 1.1.1 Create the project skeleton\n  - [x] E1 Write a changelog (injected)\n")
    assert.deepStrictEqual(
      TaskSelection.plan(parse(after), [injection]).order.map(String),
      ["1.1.2", "2.1.1", "2.1.2"]
    )
    const figures = TaskSelection.nextTaskView(parse(after), [injection])
    assert.deepStrictEqual([figures.totalTasks, figures.completedTasks], [5, 2])
  })

  it("two injections after one anchor keep their order; CRLF and a missing final newline are kept", () => {
    const crlf = list.replaceAll("\n", "\r\n").replace(/\r\n$/, "")
    const first = inject(crlf, request("positional", { afterTaskId: id("2.1.2") }))
    const second = inject(
      crlf,
      request("positional", { afterTaskId: id("2.1.2"), task: { id: id("E2"), title: "Tag", description: "" } }),
      [first]
    )
    const after = write(write(crlf, first), second)
    assert.isTrue(after.endsWith(
      "  - [ ] 2.1.2 Document the greeting\r\n  - [x] E1 Write a changelog (injected)\r\n" +
        "    Keep a changelog.\r\n    One entry per task.\r\n  - [x] E2 Tag (injected)"
    ))
  })

  it("a description that would read as tasks is left out; a title on several lines becomes one", () => {
    const injection = inject(
      list,
      request("positional", {
        afterTaskId: id("1.1.2"),
        task: { id: id("E1"), title: "Write\na changelog", description: "- 3.1 not a task\nPhase 9: nor this" }
      })
    )
    const task = TaskSelection.effectiveTasks(parse(list), [injection]).find((t) => t.id === "E1")
    const after = task === undefined ? "" : updated(addInjected(list, task, injection))
    assert.include(after, "  - [x] E1 Write a changelog (injected)\n\nPhase 2")
    assert.deepStrictEqual(parse(after).diagnostics, [])
  })
})

describe("TaskListRenderer.applyEdits", () => {
  const list = [
    "# Tasks",
    "",
    "Phase 1: Core",
    "",
    "- 1.1 Setup (Dependencies: [])",
    "  - [ ] 1.1.1: Create the skeleton (Dependencies: [1.2.1])",
    "    The old description.",
    "    • test.coverage: ≥80%",
    "  - [x] 1.1.2 Add a README",
    "  * [ ] **1.1.3** Deploy it (manual)",
    "  - [x] E1 Hotfix (injected)",
    "- 1.2 Pages",
    "  - [ ] 1.2.1 Login page",
    ""
  ].join("\n")
  const edit = (taskId: string, fields: ConstructorParameters<typeof TaskPatch>[0]) =>
    [id(taskId), new TaskPatch(fields)] as const
  const line = (source: string, n: number) => source.split("\n")[n] ?? ""
  const task = (source: string, taskId: string) => parse(source).tasks.find((t) => t.id === taskId)

  it("a title rewrites the task's line: head, separator, dependencies and markers kept", () => {
    const result = applyEdits(list, [
      edit("1.1.1", { title: "Create the project skeleton" }),
      edit("1.1.3", { title: "Ship it" }),
      edit("E1", { title: "Urgent hotfix" })
    ])
    assert.deepStrictEqual(changedLines(list, result.source), [5, 9, 10])
    assert.strictEqual(line(result.source, 5), "  - [ ] 1.1.1: Create the project skeleton (Dependencies: [1.2.1])")
    assert.strictEqual(line(result.source, 9), "  * [ ] **1.1.3** Ship it (manual)")
    assert.strictEqual(line(result.source, 10), "  - [x] E1 Urgent hotfix (injected)")
    const parsed = parse(result.source)
    assert.deepStrictEqual(parsed.diagnostics, [])
    assert.strictEqual(task(result.source, "1.1.1")?.title, "Create the project skeleton")
    assert.deepStrictEqual(task(result.source, "1.1.1")?.dependencies, [id("1.2.1")])
    assert.strictEqual(task(result.source, "1.1.3")?.status, "skipped")
    assert.deepStrictEqual(result.leftOut, [])
    // 1.1.3's title reads "Ship it (manual)": the journal keeps its edit
    assert.deepStrictEqual(result.inFile.map(([taskId, patch]) => [taskId, patch.title]), [
      ["1.1.1", "Create the project skeleton"],
      ["E1", "Urgent hotfix"]
    ])
  })

  it("a description replaces the lines under the task, criteria included", () => {
    const result = applyEdits(list, [edit("1.1.1", { description: "First line.\n\n  Second line." })])
    assert.strictEqual(
      result.source,
      list.replace("    The old description.\n    • test.coverage: ≥80%\n", "    First line.\n    Second line.\n")
    )
    assert.strictEqual(task(result.source, "1.1.1")?.description, "First line.\nSecond line.")
    // the blank line is not in the file: the journal keeps the exact text
    assert.deepStrictEqual(result.inFile, [])
    const exact = applyEdits(list, [edit("1.2.1", { description: "Email and password." })])
    assert.strictEqual(exact.source, list.replace("1.2.1 Login page\n", "1.2.1 Login page\n    Email and password.\n"))
    assert.deepStrictEqual(exact.inFile.map(([taskId, patch]) => [taskId, patch.description]), [
      ["1.2.1", "Email and password."]
    ])
  })

  it("a status sets the checkbox; skipped is the (manual) mark, pending removes it", () => {
    const result = applyEdits(list, [
      edit("1.1.1", { status: "completed" }),
      edit("1.1.2", { status: "pending" }),
      edit("1.2.1", { status: "skipped" }),
      edit("1.1.3", { status: "in_progress" })
    ])
    assert.deepStrictEqual(changedLines(list, result.source), [5, 8, 9, 12])
    assert.strictEqual(line(result.source, 5), "  - [x] 1.1.1: Create the skeleton (Dependencies: [1.2.1])")
    assert.strictEqual(line(result.source, 8), "  - [ ] 1.1.2 Add a README")
    assert.strictEqual(line(result.source, 9), "  * [ ] **1.1.3** Deploy it")
    assert.strictEqual(line(result.source, 12), "  - [ ] 1.2.1 Login page (manual)")
    const statuses = parse(result.source).tasks.map((t) => `${t.id}:${t.status}`)
    assert.includeMembers(statuses, ["1.1.1:completed", "1.1.2:pending", "1.1.3:pending", "1.2.1:skipped"])
    assert.deepStrictEqual(result.leftOut, [])
    // in_progress is not something the file can say: that edit stays in the journal
    assert.deepStrictEqual(result.inFile.map(([taskId, patch]) => `${taskId}:${patch.status}`), [
      "1.1.1:completed",
      "1.1.2:pending",
      "1.2.1:skipped"
    ])
  })

  it("is idempotent: edits already in the file change nothing", () => {
    const patches = [
      edit("1.1.1", { title: "New title", description: "New text.", status: "completed" }),
      edit("1.2.1", { status: "skipped", title: "Login" }),
      edit("1.2", { status: "completed" })
    ]
    const once = applyEdits(list, patches)
    assert.notStrictEqual(once.source, list)
    const twice = applyEdits(once.source, patches)
    assert.strictEqual(twice.source, once.source)
    assert.deepStrictEqual(twice.leftOut, [])
    const nothing = applyEdits(list, [edit("1.1.2", { status: "completed", title: "Add a README" })])
    assert.strictEqual(nothing.source, list)
    assert.strictEqual(nothing.inFile.length, 1)
  })

  it("a group's completed checks its line; other container statuses and tasks not in the file are left out", () => {
    const result = applyEdits(list, [
      edit("1.2", { status: "completed" }),
      edit("1.1", { status: "skipped" }),
      edit("E9", { title: "Not written yet" })
    ])
    assert.strictEqual(line(result.source, 11), "- [x] 1.2 Pages")
    assert.strictEqual(task(result.source, "1.2.1")?.status, "completed")
    assert.deepStrictEqual(result.leftOut.map((l) => l.taskId), ["1.1", "E9"])
  })

  it("hostile text is data: no task, heading, phase or comment comes out of a title or a description", () => {
    const hostile = [
      "- [ ] 9.9.9 Injected task",
      "  - [x] 1.2.1 Tick another",
      "# A heading",
      "Phase 7: Evil",
      "PHASE 1 COMPLETED",
      "<!-- hide everything",
      "1. 2 numbered item",
      "- [ ] no id",
      "x".repeat(10_240)
    ].join("\n")
    const before = parse(list)
    const result = applyEdits(list, [
      edit("1.1.1", { title: "Title\n- [ ] 9.9.9 Evil\n# Heading", description: hostile }),
      edit("1.2.1", { title: "Skip me (manual)" }),
      edit("1.1.2", { title: "Hide <!-- the rest" }),
      edit("1.1.3", { title: "Wait (Dependencies: [1.2.1])" })
    ])
    const after = parse(result.source)
    assert.deepStrictEqual(after.diagnostics, [])
    assert.deepStrictEqual(
      after.tasks.map((t) => `${t.id}:${t.type}:${t.status}`),
      before.tasks.map((t) => `${t.id}:${t.type}:${t.status}`)
    )
    assert.strictEqual(task(result.source, "1.1.1")?.title, "Title - [ ] 9.9.9 Evil # Heading")
    const description = task(result.source, "1.1.1")?.description.split("\n") ?? []
    assert.deepStrictEqual(description.slice(0, 8), [
      "\\- [ ] 9.9.9 Injected task",
      "\\- [x] 1.2.1 Tick another",
      "\\# A heading",
      "\\Phase 7: Evil",
      "\\PHASE 1 COMPLETED",
      "<\\!-- hide everything",
      "\\1. 2 numbered item",
      "- [ ] no id" // under a task, a checkbox without an id is description text
    ])
    assert.strictEqual(description.slice(8).join(""), "x".repeat(10_240))
    // a marker, a clause or a comment in a title is escaped: text, not meaning
    assert.deepStrictEqual(result.leftOut, [])
    const lineOf = (taskId: string) =>
      result.source.split("\n").find((l) => /^ *[-*] /.test(l) && l.includes(` ${taskId} `))
    assert.strictEqual(lineOf("1.2.1"), "  - [ ] 1.2.1 Skip me (manual\\)")
    assert.strictEqual(lineOf("1.1.2"), "  - [x] 1.1.2 Hide <\\!-- the rest")
    assert.strictEqual(lineOf("**1.1.3**"), "  * [ ] **1.1.3** Wait (Dependencies\\: [1.2.1]) (manual)")
    assert.strictEqual(task(result.source, "1.2.1")?.status, "pending")
    assert.deepStrictEqual(task(result.source, "1.1.3")?.dependencies, [id("1.1.2")])
    assert.strictEqual(applyEdits(result.source, [edit("1.1.1", { description: hostile })]).source, result.source)
  })

  it("property: any title and description edit leaves every other task as it was", () => {
    FastCheck.assert(
      FastCheck.property(
        FastCheck.constantFrom("1.1.1", "1.1.2", "1.1.3", "E1", "1.2.1", "1.1", "1"),
        FastCheck.string({ minLength: 1, maxLength: 60 }),
        FastCheck.array(
          FastCheck.constantFrom(
            "a",
            " ",
            "\n",
            "-",
            "[ ]",
            "[x]",
            "#",
            "1.2",
            "Phase 3:",
            "<!--",
            "-->",
            "•",
            "(manual)",
            "(injected)",
            "Dependencies: [1]"
          ),
          { maxLength: 20 }
        ),
        (taskId, title, parts) => {
          const before = parse(list)
          const result = applyEdits(list, [edit(taskId, { title, description: parts.join("") })])
          const after = parse(result.source)
          assert.deepStrictEqual(after.diagnostics, [])
          assert.deepStrictEqual(
            after.tasks.map((t) => `${t.id}:${t.type}:${t.status}:${t.dependencies.join(",")}`),
            before.tasks.map((t) => `${t.id}:${t.type}:${t.status}:${t.dependencies.join(",")}`)
          )
          after.tasks.forEach((t, i) => {
            if (t.id !== taskId) assert.strictEqual(t.description, before.tasks[i]?.description)
          })
        }
      ),
      { numRuns: 300 }
    )
  })
})
