import { TaskId } from "@devteam/domain/Ids"
import type { Task } from "@devteam/domain/Task"
import { summary } from "@devteam/domain/TaskList"
import type { TaskList } from "@devteam/domain/TaskList"
import { isTaskId, MAX_DIAGNOSTICS, parse } from "@devteam/domain/TaskListParser"
import * as TaskSelection from "@devteam/domain/TaskSelection"
import { assert, describe, it } from "@effect/vitest"
import { FastCheck, Schema } from "effect"
import { readFileSync } from "node:fs"

const seed = readFileSync(new URL("fixtures/seed-tasks_list.md", import.meta.url), "utf8")

const byId = (list: TaskList, id: string): Task => {
  const task = list.tasks.find((t) => t.id === id)
  assert.isDefined(task, `task ${id} exists`)
  if (task === undefined) throw new Error(`no task ${id}`)
  return task
}
const ids = (list: TaskList) => list.tasks.map((t) => t.id)
const plain = (xs: ReadonlyArray<string>): Array<string> => [...xs]
const messages = (list: TaskList) => list.diagnostics.map((d) => d.message).join("\n")

/** Deterministic pseudo-random bytes (mulberry32) for garbage inputs. */
const prng = (seedValue: number) => {
  let a = seedValue >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

describe("TaskListParser on the seed file", () => {
  const list = parse(seed)

  it("reads it without diagnostics", () => {
    assert.deepStrictEqual(list.diagnostics, [])
  })

  it("reports phases 2–9 pending and phase 1 (commented out, marked COMPLETED) completed", () => {
    const phases = list.tasks.filter((t) => t.type === "phase")
    assert.deepStrictEqual(phases.map((p) => p.id), ["1", "2", "3", "4", "5", "6", "7", "8", "9"])
    assert.deepStrictEqual(phases.map((p) => p.status), [
      "completed",
      "pending",
      "pending",
      "pending",
      "pending",
      "pending",
      "pending",
      "pending",
      "pending"
    ])
    const phase1 = list.tasks.filter((t) => t.phase === 1)
    assert.strictEqual(phase1.filter((t) => t.type === "atomic").length, 13)
    assert.isTrue(phase1.every((t) => t.status === "completed"))
    assert.isTrue(list.sources.filter((_, i) => list.tasks[i]?.phase === 1).every((s) => s.commented))
    const later = list.tasks.filter((t) => t.phase >= 2)
    assert.isTrue(later.every((t) => t.status === "pending"))
    assert.strictEqual(byId(list, "2").title, "Events → Worker Wire-up")
    assert.deepStrictEqual(plain(byId(list, "2").dependencies), ["1"])
  })

  it("types groups and atomic tasks and assigns phases", () => {
    assert.strictEqual(byId(list, "2.1").type, "group")
    assert.strictEqual(byId(list, "2.1.1").type, "atomic")
    assert.strictEqual(byId(list, "2.1.1").phase, 2)
    assert.strictEqual(byId(list, "9.2.1").phase, 9)
    assert.strictEqual(byId(list, "2.1.1").title, "Add router mount for events in API")
    const s = summary(list.tasks)
    const atomic = list.tasks.filter((t) => t.type === "atomic")
    assert.strictEqual(s.totalTasks, atomic.length)
    assert.strictEqual(s.completedTasks, 13)
    assert.strictEqual(s.progress, Math.round((13 / atomic.length) * 1000) / 10)
  })

  it("inherits dependencies from phase and group and orders atomic siblings", () => {
    assert.deepStrictEqual(plain(byId(list, "2.1.1").dependencies), ["1", "1.2"])
    assert.deepStrictEqual(plain(byId(list, "2.1.2").dependencies), ["1", "1.2", "2.1.1"])
    assert.deepStrictEqual(plain(byId(list, "8.1.1").dependencies), ["7", "3.3", "5.2"])
    assert.deepStrictEqual(plain(byId(list, "9.1.1").dependencies), ["8", "1.1", "1.2", "7.8"])
    const source = list.sources[list.tasks.findIndex((t) => t.id === "2.2")]
    assert.deepStrictEqual(plain(source?.declaredDependencies ?? []), ["2.1"])
    assert.strictEqual(source?.parentId, "2")
    assert.strictEqual(source?.line, 42)
  })

  it("keeps acceptance criteria, description and files", () => {
    const t = byId(list, "1.1.6")
    assert.deepStrictEqual(Object.keys(t.criteria), ["acceptance.1", "acceptance.2", "acceptance.3", "acceptance.4"])
    assert.strictEqual(t.criteria["acceptance.1"], "Docker services start within ≤10s (p95) [source: PRD]")
    assert.strictEqual(t.description.split("\n").length, 4)
    assert.isTrue(t.description.startsWith("• <criterion 1: Docker services"))
    assert.deepStrictEqual(byId(list, "1.1.7").files, ["ai_docs/tasks/task_outcomes.md"])
    assert.deepStrictEqual(byId(list, "1.1.1").files, [])
  })
})

interface Expect {
  readonly type?: Task["type"]
  readonly status?: Task["status"]
  readonly title?: string
  readonly dependencies?: ReadonlyArray<string>
  readonly phase?: number
  readonly files?: ReadonlyArray<string>
  readonly criteria?: Record<string, string>
}

const variants: ReadonlyArray<{
  readonly name: string
  readonly source: string
  readonly ids: ReadonlyArray<string>
  readonly expect: Record<string, Expect>
  readonly diagnostics?: RegExp
}> = [
  {
    name: "markdown phase headings",
    source:
      "# Tasks\n\n## Phase 1: Setup\n- 1.1 Init\n  - 1.1.1 Do it\n\n### Phase 2 — Build (Dependencies: [1])\n- 2.1 B\n",
    ids: ["1", "1.1", "1.1.1", "2", "2.1"],
    expect: {
      "1": { type: "phase", title: "Setup" },
      "2": { type: "phase", title: "Build", dependencies: ["1"] },
      "2.1": { type: "atomic", phase: 2, dependencies: ["1"] }
    }
  },
  {
    name: "bullets -, *, +, numbered 1. and 1)",
    source: "Phase 1: P\n* 1.1 Star group\n  + 1.1.1 Plus\n  1. 1.1.2 Numbered dot\n  2) 1.1.3 Numbered paren\n",
    ids: ["1", "1.1", "1.1.1", "1.1.2", "1.1.3"],
    expect: {
      "1.1": { type: "group" },
      "1.1.2": { type: "atomic", title: "Numbered dot", dependencies: ["1.1.1"] },
      "1.1.3": { title: "Numbered paren", dependencies: ["1.1.2"] }
    }
  },
  {
    name: "checkboxes",
    source: "- [ ] 1 Pending\n- [x] 2 Done\n- [X] 3 Done too\n- 4 No box\n",
    ids: ["1", "2", "3", "4"],
    expect: {
      "1": { status: "pending", phase: 0, type: "atomic" },
      "2": { status: "completed" },
      "3": { status: "completed" },
      "4": { status: "pending" }
    }
  },
  {
    name: "atomic items not indented under their group",
    source: "Phase 3: X\n- 3.1 G\n- 3.1.1 A\n- 3.1.2 B\n- 3.2 Lone group\n",
    ids: ["3", "3.1", "3.1.1", "3.1.2", "3.2"],
    expect: {
      "3.1": { type: "group" },
      "3.1.2": { dependencies: ["3.1.1"] },
      "3.2": { type: "atomic", phase: 3 }
    }
  },
  {
    name: "tabs, CRLF, BOM and bold ids",
    source: "\uFEFFPhase 1: T\r\n-\t1.1 G\r\n\t- [ ] **1.1.1** Bold\r\n\t- 1.1.2: Colon\r\n",
    ids: ["1", "1.1", "1.1.1", "1.1.2"],
    expect: { "1.1.1": { title: "Bold", type: "atomic" }, "1.1.2": { title: "Colon" } }
  },
  {
    name: "phase completion marker in any case",
    source: "Phase 1: A\n- 1.1 x\n  - [ ] 1.1.1 y\nphase 1 completed\nPhase 2: B\n- 2.1 z\n",
    ids: ["1", "1.1", "1.1.1", "2", "2.1"],
    expect: { "1": { status: "completed" }, "1.1.1": { status: "completed" }, "2.1": { status: "pending" } }
  },
  {
    name: "a commented-out phase that is not marked completed is ignored",
    source: "<!--\nPhase 1: Old\n- 1.1 Gone\n-->\nPhase 2: New (Dependencies: [1])\n- 2.1 Here\n",
    ids: ["2", "2.1"],
    expect: { "2.1": { dependencies: ["1"] } },
    diagnostics: /dependency 1 of 2 is commented out/
  },
  {
    name: "a commented-out completion marker does not count",
    source: "<!--\nPhase 1: Old\n- 1.1 Gone\nPHASE 1 COMPLETED\n-->\nPhase 2: New\n- 2.1 Here\n",
    ids: ["2", "2.1"],
    expect: { "2.1": { status: "pending" } }
  },
  {
    name: "an inline comment after an item",
    source: "- [ ] 1.1 Visible <!-- note -->\n<!-- - 1.2 Hidden -->\n",
    ids: ["1.1"],
    expect: { "1.1": { title: "Visible" } }
  },
  {
    name: "machine and free-text criteria, description lines",
    source: [
      "- 1.1 Group",
      "  - 1.1.1 Task",
      "    Some more detail",
      "    • test.coverage: ≥80%",
      "    • type.strict: 0 errors",
      "    • <criterion 1: doc.updated: task_outcomes.md>",
      "    • It works",
      "    - <criterion 2: Fast>",
      "Unindented paragraph ends the task",
      "    • orphan"
    ].join("\n"),
    ids: ["1.1", "1.1.1"],
    expect: {
      "1.1.1": {
        criteria: {
          "test.coverage": "≥80%",
          "type.strict": "0 errors",
          "doc.updated": "task_outcomes.md",
          "acceptance.1": "It works",
          "acceptance.2": "Fast"
        }
      }
    },
    diagnostics: /criterion outside of any task/
  },
  {
    name: "files from backticks and links, not commands",
    source:
      "- 1 Edit `src/a.ts`, `README.md` and [guide](docs/guide.md#x); run `docker compose build`, `npm test`, see [site](https://x.y/z)\n",
    ids: ["1"],
    expect: { "1": { files: ["src/a.ts", "README.md", "docs/guide.md"] } }
  },
  {
    name: "a checked group completes its tasks; atomic lines with own dependencies",
    source: "- [x] 1.1 G\n  - [ ] 1.1.1 a\n- 1.2 H (Dependencies: [1.1])\n  - 1.2.1 b (Dependencies: [1.1.1, 1.1])\n",
    ids: ["1.1", "1.1.1", "1.2", "1.2.1"],
    expect: {
      "1.1": { status: "completed" },
      "1.1.1": { status: "completed" },
      "1.2.1": { dependencies: ["1.1", "1.1.1"], status: "pending" }
    }
  },
  {
    name: "dependency spellings; prose mentioning deps is not a dependency list",
    source: [
      "Phase 1: A",
      "- 1.1 x",
      "Phase 2: B (Depends on: Phase 1)",
      "- 2.1 Update deps: bump effect",
      "- 2.2 y (Dependencies: 1.1, 2.1)",
      "- 2.3 z Dependencies: [2.2; 2.1] trailing words",
      "- 2.4 w (deps: none)"
    ].join("\n"),
    ids: ["1", "1.1", "2", "2.1", "2.2", "2.3", "2.4"],
    expect: {
      "2": { dependencies: ["1"] },
      "2.1": { title: "Update deps: bump effect", dependencies: ["1"] },
      "2.2": { dependencies: ["1", "1.1", "2.1"] },
      "2.3": { title: "z  trailing words", dependencies: ["1", "2.2", "2.1"] },
      "2.4": { title: "w", dependencies: ["1"] }
    }
  },
  {
    name: "unknown checkbox mark, checkbox without id, long id",
    source: `- [-] 1 odd\n- [ ] no id here\n- ${"123456789.".repeat(15)}1 long\n`,
    ids: ["1"],
    expect: { "1": { status: "pending" } },
    diagnostics: /unknown checkbox mark[\s\S]*without a task id[\s\S]*too long/
  }
]

describe("TaskListParser format variants", () => {
  for (const variant of variants) {
    it(variant.name, () => {
      const list = parse(variant.source)
      assert.deepStrictEqual(ids(list), variant.ids)
      for (const [id, expected] of Object.entries(variant.expect)) {
        const task = byId(list, id)
        if (expected.type !== undefined) assert.strictEqual(task.type, expected.type, `${id} type`)
        if (expected.status !== undefined) assert.strictEqual(task.status, expected.status, `${id} status`)
        if (expected.title !== undefined) assert.strictEqual(task.title, expected.title, `${id} title`)
        if (expected.phase !== undefined) assert.strictEqual(task.phase, expected.phase, `${id} phase`)
        if (expected.dependencies !== undefined) assert.deepStrictEqual(plain(task.dependencies), expected.dependencies)
        if (expected.files !== undefined) assert.deepStrictEqual(task.files, expected.files)
        if (expected.criteria !== undefined) assert.deepStrictEqual(task.criteria, expected.criteria)
      }
      if (variant.diagnostics === undefined) assert.deepStrictEqual(list.diagnostics, [])
      else assert.match(messages(list), variant.diagnostics)
    })
  }
})

describe("TaskListParser on hostile input", () => {
  it("empty and blank files give an empty list", () => {
    for (const source of ["", "\n", "   \r\n\t\n", "\uFEFF"]) {
      const list = parse(source)
      assert.deepStrictEqual(list.tasks, [])
      assert.deepStrictEqual(list.diagnostics, [])
    }
  })

  it("binary garbage never throws and stays bounded", () => {
    for (const s of [1, 2, 3, 42, 1337]) {
      const next = prng(s)
      const bytes = Array.from({ length: 200_000 }, () => Math.floor(next() * 256))
      const asText = String.fromCharCode(...bytes.slice(0, 50_000)) + Buffer.from(bytes).toString("utf8")
      const list = parse(asText)
      assert.isAtMost(list.diagnostics.length, MAX_DIAGNOSTICS + 1)
      const sprinkled = bytes.map((b, i) => i % 97 === 0 ? "\n- [ ] 1.1 x\n" : String.fromCharCode(b)).join("")
      const again = parse(sprinkled)
      assert.isAtMost(again.diagnostics.length, MAX_DIAGNOSTICS + 1)
      assert.isTrue(again.tasks.some((t) => t.id === "1.1"))
    }
  })

  it("a generated 10 MB list parses in bounded time", () => {
    const lines: Array<string> = []
    let size = 0
    for (let p = 1; size < 10 * 1024 * 1024; p++) {
      const heading = `## Phase ${p}: Generated phase ${p} (Dependencies: [${p - 1 || ""}])`
      lines.push(heading, "")
      size += heading.length + 2
      for (let g = 1; g <= 20; g++) {
        const group = `- ${p}.${g} Group ${g} of phase ${p} (Dependencies: [${g > 1 ? `${p}.${g - 1}` : ""}])`
        lines.push(group)
        size += group.length + 1
        for (let a = 1; a <= 10; a++) {
          const item = `  - [${(p + g + a) % 3 === 0 ? "x" : " "}] ${p}.${g}.${a} Implement \`src/m${a}.ts\` step ${a}`
          lines.push(item, "    • <criterion 1: it works>")
          size += item.length + 30
        }
      }
    }
    const source = lines.join("\n")
    assert.isAtLeast(source.length, 10 * 1024 * 1024)
    // CPU time, not wall time: the machine is shared with other suites, and CPU time is the work done.
    const cpu = () => {
      const usage = process.cpuUsage()
      return (usage.user + usage.system) / 1000
    }
    const started = performance.now()
    const cpuStarted = cpu()
    const list = parse(source)
    const parsedIn = performance.now() - started
    const parsedCpu = cpu() - cpuStarted
    const plan = TaskSelection.plan(list)
    const plannedIn = performance.now() - started - parsedIn
    const plannedCpu = cpu() - cpuStarted - parsedCpu
    console.log(
      `10 MB list: ${list.tasks.length} tasks parsed in ${parsedIn.toFixed(0)} ms (${
        parsedCpu.toFixed(0)
      } ms CPU), planned in ${plannedIn.toFixed(0)} ms (${plannedCpu.toFixed(0)} ms CPU)`
    )
    assert.isAbove(list.tasks.length, 100_000)
    assert.isBelow(parsedCpu, 5_000)
    assert.isBelow(plannedCpu, 5_000)
    assert.isAbove(plan.order.length, 0)
  })

  it("one 10 MB line and deep unbalanced markup stay bounded", () => {
    const started = performance.now()
    const oneLine = parse("- [ ] 1 " + "`[(".repeat(3_500_000))
    const brackets = parse(Array.from({ length: 2_000 }, () => "[".repeat(4_000) + "](" + "`".repeat(999)).join("\n"))
    const comments = parse("<!--".repeat(1_000_000) + "\n- 1 x\n" + "-->".repeat(1_000_000))
    assert.isBelow(performance.now() - started, 5_000)
    assert.match(messages(oneLine), /too long/)
    assert.deepStrictEqual(brackets.tasks, [])
    assert.strictEqual(comments.tasks.length, 0)
  })

  it("10 MB of blank lines, 5 MB of noise lines stay bounded", () => {
    const cpu = () => {
      const usage = process.cpuUsage()
      return (usage.user + usage.system) / 1000
    }
    const started = cpu()
    assert.deepStrictEqual(parse("\n".repeat(10 * 1024 * 1024)).tasks, [])
    const noise = parse("- [ ] x\n• y\n<!--\n".repeat(300_000))
    assert.strictEqual(noise.diagnostics.length, MAX_DIAGNOSTICS + 1)
    assert.isBelow(cpu() - started, 5_000)
  })

  it("caps description lines and criteria of one task", () => {
    const list = parse("- 1 T\n" + "  • <criterion 1: x>\n".repeat(300_000) + "  more\n".repeat(1_000))
    const task = list.tasks[0]
    assert.strictEqual(task?.description.split("\n").length, 500)
    assert.strictEqual(Object.keys(task?.criteria ?? {}).length, 100)
    assert.deepStrictEqual(list.diagnostics.map((d) => d.line), [502])
  })

  it("reports dependency cycles, and the tasks in them are never selected", () => {
    const list = parse(
      "- 1.1 A (Dependencies: [1.2])\n  - 1.1.1 a\n- 1.2 B (Dependencies: [1.1])\n  - 1.2.1 b\n- 2 Self (Dependencies: [2])\n- 3 Free\n- 4 Ancestor\n  - 4.1 child (Dependencies: [4])\n"
    )
    assert.match(messages(list), /dependency cycle among 1\.1, 1\.1\.1, 1\.2, 1\.2\.1/)
    assert.match(messages(list), /dependency cycle among 2:/)
    assert.match(messages(list), /dependency cycle among 4, 4\.1/)
    const plan = TaskSelection.plan(list)
    assert.deepStrictEqual(plain(plan.order), ["3"])
    assert.deepStrictEqual(plan.blocked.map((b) => b.taskId), ["1.1.1", "1.2.1", "2", "4.1"])
  })

  it("reports unknown dependencies; the task waits on them", () => {
    const list = parse("- 1 A (Dependencies: [9.9, bad id!])\n- 2 B\n")
    assert.match(messages(list), /unknown dependency 9\.9 of 1/)
    assert.match(messages(list), /invalid dependency id "id!"/)
    assert.match(messages(list), /unknown dependency bad of 1/)
    const selection = TaskSelection.select(list)
    assert.strictEqual(selection._tag, "Selected")
    if (selection._tag === "Selected") assert.strictEqual(selection.task.id, "2")
    const plan = TaskSelection.plan(list)
    assert.deepStrictEqual(plan.blocked.map((b) => [b.taskId, plain(b.waitingOn)]), [["1", ["9.9", "bad"]]])
  })

  it("reports duplicate ids; the first wins", () => {
    const list = parse("- 1 First\n- 1 Second\nPhase 1: Clash\n")
    assert.deepStrictEqual(list.tasks.map((t) => t.title), ["First"])
    assert.match(messages(list), /duplicate task id 1 \(first defined on line 1\)/)
    assert.strictEqual(list.diagnostics[0]?.line, 2)
  })

  it("caps dependencies and diagnostics", () => {
    const deps = Array.from({ length: 80 }, (_, i) => `9.${i}`).join(", ")
    const list = parse(`- 1 Many (Dependencies: [${deps}])\n`)
    assert.match(messages(list), /more than 50 dependencies/)
    assert.strictEqual(list.tasks[0]?.dependencies.length, 50)
    const noisy = parse("- [ ] no id\n".repeat(5_000))
    assert.strictEqual(noisy.diagnostics.length, MAX_DIAGNOSTICS + 1)
    assert.match(noisy.diagnostics[MAX_DIAGNOSTICS]?.message ?? "", /4000 more diagnostics omitted/)
  })

  it("ids are valid TaskIds, and the fast id check agrees with the TaskId schema", () => {
    const list = parse(seed)
    for (const task of list.tasks) assert.strictEqual(TaskId.make(task.id), task.id)
    const samples = [
      "1",
      "1.2.3",
      "E1",
      "a_b-c.d",
      "",
      ".1",
      "1.",
      "1..2",
      "1 2",
      "x".repeat(64),
      "x".repeat(65),
      "é",
      "1/2"
    ]
    for (const sample of samples) assert.strictEqual(isTaskId(sample), Schema.is(TaskId)(sample), sample)
  })

  it.prop(
    "the fast id check agrees with the TaskId schema on generated strings",
    [FastCheck.stringMatching(/^[A-Za-z0-9._\-\s]{0,70}$/)],
    ([sample]) => {
      assert.strictEqual(isTaskId(sample), Schema.is(TaskId)(sample))
    }
  )
})

describe("TaskListParser: files named in the text, manual tasks", () => {
  it("takes plain-text paths with a directory and an extension as files, beside backticks and links", () => {
    const list = parse([
      "- [ ] 1.1 Add the DEVTEAM_ENABLED flag to src/config.js and export it from ./src/index.js.",
      "- [ ] 1.2 Update `docs/usage.md` and [the schema](db/schema.sql) (see https://example.com/a/b.html)",
      "- [ ] 1.3 Bump the version, e.g. in package.json (no directory: not taken)"
    ].join("\n"))
    assert.deepStrictEqual(list.tasks.map((t) => [...t.files]), [
      ["src/config.js", "src/index.js"],
      ["docs/usage.md", "db/schema.sql"],
      []
    ])
  })

  it("`(manual)` marks a task for a person: skipped (done for its dependents) unless already ticked", () => {
    const list = parse([
      "- [ ] 1.1 Deploy the service (manual)",
      "- [ ] 1.2 Add a health route to src/app.js (Dependencies: [1.1])",
      "- [x] 1.3 Tail the logs (Manual)"
    ].join("\n"))
    assert.deepStrictEqual(list.tasks.map((t) => [t.id, t.status]), [
      ["1.1", "skipped"],
      ["1.2", "pending"],
      ["1.3", "completed"]
    ])
    const selection = TaskSelection.select(list, [], [])
    assert.strictEqual(selection._tag, "Selected")
    if (selection._tag === "Selected") assert.strictEqual(selection.task.id, "1.2")
    assert.strictEqual(summary(list.tasks).completedTasks, 2)
  })
})

describe("TaskListParser: injected tasks written back", () => {
  it("`(injected)` admits any task id; its parent is the item it is indented under", () => {
    const list = parse([
      "Phase 1: Core",
      "- 1.1 Setup",
      "  - [x] 1.1.1 Skeleton",
      "  - [x] E1 Urgent hotfix (injected)",
      "    Fix it first.",
      "  - [ ] 1.1.2 README",
      "- [x] fix-2 After the group (injected)",
      "- [ ] v2 migration"
    ].join("\n"))
    assert.deepStrictEqual(
      list.tasks.map((t, i): ReadonlyArray<unknown> => [
        t.id,
        t.type,
        t.status,
        list.sources[i]?.parentId ?? null,
        list.sources[i]?.injected
      ]),
      [
        ["1", "phase", "pending", null, false],
        ["1.1", "group", "pending", "1", false],
        ["1.1.1", "atomic", "completed", "1.1", false],
        ["E1", "atomic", "completed", "1.1", true],
        ["1.1.2", "atomic", "pending", "1.1", false],
        ["fix-2", "atomic", "completed", "1", true]
      ]
    )
    assert.strictEqual(list.tasks[3]?.title, "Urgent hotfix")
    assert.strictEqual(list.tasks[3]?.description, "Fix it first.")
    // without the marker a word is not an id
    assert.deepStrictEqual(list.diagnostics.map((d) => [d.line, d.message]), [
      [8, "checkbox item without a task id; ignored"]
    ])
  })
})
