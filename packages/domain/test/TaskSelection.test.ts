import { TaskId } from "@devteam/domain/Ids"
import { InjectedTask, TaskPatch } from "@devteam/domain/Injection"
import { Task } from "@devteam/domain/Task"
import type { TaskStatus } from "@devteam/domain/Task"
import type { TaskList } from "@devteam/domain/TaskList"
import { parse } from "@devteam/domain/TaskListParser"
import type { InjectionRequest, Patches, Selection } from "@devteam/domain/TaskSelection"
import * as TaskSelection from "@devteam/domain/TaskSelection"
import { assert, describe, it } from "@effect/vitest"
import { Either, FastCheck } from "effect"
import { readFileSync } from "node:fs"

const seed = parse(readFileSync(new URL("fixtures/seed-tasks_list.md", import.meta.url), "utf8"))

const id = (value: string): TaskId => TaskId.make(value)
const plain = (xs: ReadonlyArray<string>): Array<string> => [...xs]
const done = (...ids: ReadonlyArray<string>): Array<readonly [TaskId, TaskPatch]> =>
  ids.map((value) => [id(value), new TaskPatch({ status: "completed" })] as const)
const selectedId = (selection: Selection): string => {
  assert.strictEqual(selection._tag, "Selected")
  return selection._tag === "Selected" ? selection.task.id : ""
}
const atomicIds = (list: TaskList, predicate: (task: Task) => boolean = () => true) =>
  list.tasks.filter((t) => t.type === "atomic" && predicate(t)).map((t) => t.id)

/** Places each request in turn, as the server would, and returns the journaled injections. */
const inject = (list: TaskList, requests: ReadonlyArray<InjectionRequest>, patches: Patches = []) => {
  const injections: Array<InjectedTask> = []
  const positions: Array<number> = []
  for (const request of requests) {
    const placed = TaskSelection.placeInjection(list, injections, patches, request)
    if (Either.isLeft(placed)) assert.fail(`injection rejected: ${placed.left.message}`)
    else {
      injections.push(placed.right.injection)
      positions.push(placed.right.position)
    }
  }
  return { injections, positions }
}

describe("TaskSelection on the seed file", () => {
  it("selects 2.1.1 first", () => {
    assert.strictEqual(selectedId(TaskSelection.select(seed)), "2.1.1")
  })

  it("plans every pending atomic task, starting 2.1.1, 2.1.2, … in dependency order", () => {
    const plan = TaskSelection.plan(seed)
    assert.deepStrictEqual(plain(plan.order.slice(0, 8)), [
      "2.1.1",
      "2.1.2",
      "2.1.3",
      "2.1.4",
      "2.1.5",
      "2.2.1",
      "2.2.2",
      "2.3.1"
    ])
    assert.deepStrictEqual(plan.blocked, [])
    assert.deepStrictEqual(plan.diagnostics, [])
    assert.sameMembers(plain(plan.order), atomicIds(seed, (t) => t.status === "pending"))
    // Phase 5 needs all of phase 4; 4.4 needs 4.2 and 4.3, so 4.3.x runs before 4.4.1.
    const at = (value: string) => plan.order.indexOf(id(value))
    assert.isBelow(at("4.3.2"), at("4.4.1"))
    assert.isBelow(at("4.6.3"), at("5.1.1"))
    assert.strictEqual(plan.order[plan.order.length - 1], "9.2.1")
  })

  it("follows completed work, including inherited group and phase dependencies", () => {
    assert.strictEqual(selectedId(TaskSelection.select(seed, [], done("2.1.1"))), "2.1.2")
    // 2.2 depends on group 2.1: nothing of 2.2 runs while 2.1.5 is pending.
    const most = done("2.1.1", "2.1.2", "2.1.3", "2.1.4")
    assert.strictEqual(selectedId(TaskSelection.select(seed, [], most)), "2.1.5")
    assert.strictEqual(selectedId(TaskSelection.select(seed, [], [...most, ...done("2.1.5")])), "2.2.1")
    // Phase 3 depends on phase 2 as a whole: completing 2.3 but not 2.2.2 keeps 3.1.1 waiting.
    const phase2 = atomicIds(seed, (t) => t.phase === 2 && t.id !== "2.2.2")
    const plan = TaskSelection.plan(seed, [], done(...phase2))
    assert.deepStrictEqual(plain(plan.order.slice(0, 2)), ["2.2.2", "3.1.1"])
  })

  it("finishes when everything is done, and reports blockers otherwise", () => {
    assert.strictEqual(TaskSelection.select(seed, [], done(...atomicIds(seed)))._tag, "Finished")
    const skippedAll = atomicIds(seed).map((value) => [id(value), new TaskPatch({ status: "skipped" })] as const)
    assert.strictEqual(TaskSelection.select(seed, [], skippedAll)._tag, "Finished")
    // Re-opening phase 1 work that phase 2 needs while the rest of phase 1 stays done: 1.1.1 is selected.
    const reopened = [[id("1.1.1"), new TaskPatch({ status: "pending" })] as const]
    assert.strictEqual(selectedId(TaskSelection.select(seed, [], reopened)), "1.1.1")
  })

  it("nextTaskView gives the /tasks/next body", () => {
    const view = TaskSelection.nextTaskView(seed)
    assert.strictEqual(view.task?.id, "2.1.1")
    assert.isTrue(view.dependenciesSatisfied)
    assert.strictEqual(view.totalTasks, atomicIds(seed).length)
    assert.strictEqual(view.completedTasks, 13)
    assert.strictEqual(view.progress, Math.round((13 / atomicIds(seed).length) * 1000) / 10)
    const finished = TaskSelection.nextTaskView(seed, [], done(...atomicIds(seed)))
    assert.isNull(finished.task)
    assert.strictEqual(finished.progress, 100)
    const blocked = TaskSelection.nextTaskView(parse("- 1 A (Dependencies: [7])\n- 2 B (Dependencies: [1])\n"))
    assert.strictEqual(blocked.task?.id, "1")
    assert.isFalse(blocked.dependenciesSatisfied)
  })
})

describe("TaskSelection blockers", () => {
  it("names what each blocked task waits on", () => {
    const list = parse(
      "- 1 Needs ghost (Dependencies: [9])\n- 2 Needs one (Dependencies: [1])\n- 3 Loop (Dependencies: [4])\n- 4 Loop (Dependencies: [3])\n"
    )
    const selection = TaskSelection.select(list)
    assert.strictEqual(selection._tag, "Blocked")
    if (selection._tag === "Blocked") {
      assert.deepStrictEqual(selection.blockers.map((b) => [b.taskId, plain(b.waitingOn)]), [
        ["1", ["9"]],
        ["2", ["1"]],
        ["3", ["4"]],
        ["4", ["3"]]
      ])
    }
    const plan = TaskSelection.plan(list)
    assert.deepStrictEqual(plain(plan.order), [])
    assert.match(plan.diagnostics.map((d) => d.message).join("\n"), /unknown dependency 9[\s\S]*cycle among 3, 4/)
  })

  it("atomic tasks of a group run in document order: a blocked task holds back its later siblings", () => {
    const list = parse("- 1 G\n  - 1.1 a (Dependencies: [9])\n  - 1.2 b\n- 2 H\n  - 2.1 c\n")
    const plan = TaskSelection.plan(list)
    assert.deepStrictEqual(plain(plan.order), ["2.1"])
    assert.deepStrictEqual(plan.blocked.map((b) => [b.taskId, plain(b.waitingOn)]), [["1.1", ["9"]], ["1.2", ["1.1"]]])
  })

  it("a task in a cycle stays unselectable even when its other work is done", () => {
    const list = parse("- 1 A (Dependencies: [2])\n- 2 B (Dependencies: [1])\n- 3 C\n")
    assert.strictEqual(selectedId(TaskSelection.select(list)), "3")
    assert.strictEqual(TaskSelection.select(list, [], done("3"))._tag, "Blocked")
    // Completing one member by hand breaks the cycle.
    assert.strictEqual(selectedId(TaskSelection.select(list, [], done("3", "2"))), "1")
  })
})

describe("TaskSelection patches", () => {
  const list = parse(
    "Phase 1: P\n- 1.1 G\n  - [ ] 1.1.1 a\n  - [ ] 1.1.2 b\n- 1.2 H (Dependencies: [1.1])\n  - 1.2.1 c\n"
  )

  it("override status, title and description from the file", () => {
    const patches = new Map([
      [id("1.1.1"), new TaskPatch({ status: "skipped", title: "A!", description: "why" })],
      [id("1.1.2"), new TaskPatch({ status: "in_progress" })]
    ])
    const tasks = TaskSelection.effectiveTasks(list, [], patches)
    const a = tasks.find((t) => t.id === "1.1.1")
    assert.deepStrictEqual([a?.status, a?.title, a?.description], ["skipped", "A!", "why"])
    assert.strictEqual(selectedId(TaskSelection.select(list, [], patches)), "1.1.2")
    assert.strictEqual(tasks.find((t) => t.id === "1.1")?.status, "pending")
  })

  it("a status edit on a group applies to its tasks; group status follows its tasks", () => {
    const patches: Patches = [[id("1.1"), new TaskPatch({ status: "completed" })]]
    const tasks = TaskSelection.effectiveTasks(list, [], patches)
    const statuses = Object.fromEntries(tasks.map((t) => [t.id, t.status]))
    assert.deepStrictEqual(statuses, {
      "1": "pending",
      "1.1": "completed",
      "1.1.1": "completed",
      "1.1.2": "completed",
      "1.2": "pending",
      "1.2.1": "pending"
    })
    assert.strictEqual(selectedId(TaskSelection.select(list, [], patches)), "1.2.1")
    // A later pair for the same id wins; an edit of an unknown id is reported, not applied.
    const later: Patches = [...patches, [id("1.1.2"), new TaskPatch({ status: "pending" })], [
      id("7"),
      new TaskPatch({ status: "completed" })
    ]]
    assert.strictEqual(selectedId(TaskSelection.select(list, [], later)), "1.1.2")
    assert.match(TaskSelection.plan(list, [], later).diagnostics.map((d) => d.message).join(), /unknown task 7/)
  })
})

describe("TaskSelection injections", () => {
  const request = (
    mode: InjectionRequest["mode"],
    extra: Partial<Omit<InjectionRequest, "task" | "mode">> = {},
    task: Partial<InjectionRequest["task"]> = {}
  ): InjectionRequest => ({ task: { title: "Injected", description: "d", ...task }, mode, ...extra })

  it("priority runs next, earlier injections first", () => {
    const { injections, positions } = inject(seed, [request("priority"), request("priority")])
    assert.deepStrictEqual(injections.map((i) => [i.task.id, i.order]), [["E1", 1], ["E2", 2]])
    assert.deepStrictEqual(positions, [0, 1])
    assert.strictEqual(injections[0]?.task.phase, 2)
    const plan = TaskSelection.plan(seed, injections)
    assert.deepStrictEqual(plain(plan.order.slice(0, 3)), ["E1", "E2", "2.1.1"])
    assert.strictEqual(selectedId(TaskSelection.select(seed, injections, done("E1"))), "E2")
  })

  it("a priority task waiting on its own dependencies does not block the others", () => {
    const { injections } = inject(seed, [request("priority", {}, { dependencies: [id("2.1.2")] })])
    assert.deepStrictEqual(plain(TaskSelection.plan(seed, injections).order.slice(0, 3)), ["2.1.1", "2.1.2", "E1"])
  })

  it("replace takes the replaced task's place and dependencies; its dependents wait for it", () => {
    const { injections, positions } = inject(seed, [request("replace", { replaceTaskId: id("2.1.2") })])
    assert.deepStrictEqual(positions, [1])
    const tasks = TaskSelection.effectiveTasks(seed, injections)
    const byId = (value: string) => tasks.find((t) => t.id === value)
    assert.strictEqual(byId("2.1.2")?.status, "skipped")
    assert.deepStrictEqual(plain(byId("E1")?.dependencies ?? []), ["1", "1.2", "2.1.1"])
    assert.strictEqual(byId("E1")?.phase, 2)
    assert.include(plain(byId("2.1.3")?.dependencies ?? []), "E1")
    assert.strictEqual(tasks.findIndex((t) => t.id === "E1"), tasks.findIndex((t) => t.id === "2.1.2") + 1)
    const plan = TaskSelection.plan(seed, injections)
    assert.deepStrictEqual(plain(plan.order.slice(0, 4)), ["2.1.1", "E1", "2.1.3", "2.1.4"])
    assert.notInclude(plain(plan.order), "2.1.2")
    // Group 2.1 (and so 2.2.1) is not complete until the replacement is.
    const withoutE1 = done("2.1.1", "2.1.3", "2.1.4", "2.1.5")
    assert.strictEqual(selectedId(TaskSelection.select(seed, injections, withoutE1)), "E1")
  })

  it("positional goes right after its anchor and depends on it", () => {
    const { injections, positions } = inject(seed, [
      request("positional", { afterTaskId: id("2.1.3") }),
      request("positional", { afterTaskId: id("2.1.3") }, { id: id("X-1") })
    ])
    assert.deepStrictEqual(positions, [3, 4])
    const tasks = TaskSelection.effectiveTasks(seed, injections)
    assert.deepStrictEqual(
      plain(tasks.slice(tasks.findIndex((t) => t.id === "2.1.3"), 40).map((t) => t.id)).slice(0, 4),
      [
        "2.1.3",
        "E1",
        "X-1",
        "2.1.4"
      ]
    )
    assert.include(plain(tasks.find((t) => t.id === "E1")?.dependencies ?? []), "2.1.3")
    assert.deepStrictEqual(plain(TaskSelection.plan(seed, injections).order.slice(0, 6)), [
      "2.1.1",
      "2.1.2",
      "2.1.3",
      "E1",
      "X-1",
      "2.1.4"
    ])
    // After a group: placed after the whole group, waiting on all of it.
    const afterGroup = inject(seed, [request("positional", { afterTaskId: id("2.1") })])
    const order = TaskSelection.plan(seed, afterGroup.injections).order
    assert.strictEqual(order.indexOf(id("E1")), order.indexOf(id("2.1.5")) + 1)
  })

  it("an injected task is completed through a patch and is not in the file", () => {
    const { injections } = inject(seed, [request("priority")])
    assert.strictEqual(selectedId(TaskSelection.select(seed, injections, done("E1"))), "2.1.1")
    const summary = TaskSelection.nextTaskView(seed, injections, done("E1"))
    assert.strictEqual(summary.totalTasks, atomicIds(seed).length + 1)
    assert.strictEqual(summary.completedTasks, 14)
  })

  it("validates requests", () => {
    const place = (req: InjectionRequest, existing: ReadonlyArray<InjectedTask> = []) =>
      TaskSelection.placeInjection(seed, existing, [], req)
    const failure = (req: InjectionRequest, existing: ReadonlyArray<InjectedTask> = []) => {
      const result = place(req, existing)
      return Either.isLeft(result) ? `${result.left._tag}: ${result.left.message}` : "accepted"
    }
    assert.match(failure(request("replace")), /^BadRequest: replaceTaskId is required/)
    assert.match(failure(request("positional")), /^BadRequest: afterTaskId is required/)
    assert.match(failure(request("priority", { afterTaskId: id("2.1.1") })), /^BadRequest: afterTaskId is only allowed/)
    assert.match(failure(request("replace", { replaceTaskId: id("9.9.9") })), /^TaskNotFound: task 9\.9\.9/)
    assert.match(failure(request("positional", { afterTaskId: id("77") })), /^TaskNotFound/)
    assert.match(failure(request("replace", { replaceTaskId: id("2.1") })), /^BadRequest: .*only atomic/)
    assert.match(failure(request("replace", { replaceTaskId: id("1.1.1") })), /^BadRequest: .*already completed/)
    assert.match(failure(request("priority", {}, { id: id("2.1.1") })), /^BadRequest: task id 2\.1\.1 is already used/)
    assert.match(failure(request("priority", {}, { title: "   " })), /^BadRequest: task.title/)
    assert.match(failure(request("priority", {}, { dependencies: [id("404")] })), /^TaskNotFound: dependency 404/)
    assert.match(failure(request("priority", {}, { id: id("Z"), dependencies: [id("Z")] })), /^BadRequest: .*itself/)
    const first = inject(seed, [request("priority", {}, { id: id("E2") })])
    assert.match(failure(request("priority", {}, { id: id("E2") }), first.injections), /already used/)
    const generated = place(request("priority"), first.injections)
    assert.strictEqual(Either.isRight(generated) ? generated.right.injection.task.id : "", "E1")
    // Waiting on a later task is fine (nothing waits on the injected one) …
    assert.strictEqual(
      failure(request("positional", { afterTaskId: id("2.1.2") }, { dependencies: [id("2.1.3")] })),
      "accepted"
    )
    // … but a placement that closes a loop is refused: Q (replacing 2.1.2) waits on C, 2.1.3 waits on Q,
    // and C would wait on 2.1.3.
    assert.match(
      failure(request("priority", {}, { id: id("C"), dependencies: [id("2.1.3")] }), [
        new InjectedTask({
          task: new Task({
            id: id("Q"),
            title: "q",
            description: "",
            type: "atomic",
            dependencies: [id("C")],
            files: [],
            criteria: {},
            phase: 2,
            status: "pending"
          }),
          mode: "replace",
          replaceTaskId: id("2.1.2"),
          order: 1
        })
      ]),
      /cycle/
    )
  })

  it("injections whose anchor disappeared from the file are kept at the end, waiting", () => {
    const { injections } = inject(seed, [request("positional", { afterTaskId: id("2.1.3") })])
    const shorter = parse("- 1 Only\n")
    const plan = TaskSelection.plan(shorter, injections)
    assert.deepStrictEqual(plain(plan.order), ["1"])
    assert.deepStrictEqual(plan.blocked.map((b) => [b.taskId, plain(b.waitingOn)]), [["E1", ["2.1.3"]]])
    assert.match(plan.diagnostics.map((d) => d.message).join(), /goes after 2\.1\.3, which does not exist/)
  })
})

/** Random task lists with random (possibly unknown or cyclic) dependencies and statuses. */
const listArbitrary = FastCheck.array(
  FastCheck.record({
    groups: FastCheck.array(
      FastCheck.record({
        tasks: FastCheck.array(FastCheck.constantFrom(" ", "x"), { minLength: 0, maxLength: 4 }),
        deps: FastCheck.array(FastCheck.tuple(FastCheck.nat(4), FastCheck.nat(4), FastCheck.nat(4)), { maxLength: 2 })
      }),
      { minLength: 1, maxLength: 4 }
    ),
    phaseDeps: FastCheck.array(FastCheck.nat(4), { maxLength: 2 })
  }),
  { minLength: 1, maxLength: 4 }
).map((phases) =>
  phases.map((phase, p) => {
    const heading = `Phase ${p + 1}: P (Dependencies: [${phase.phaseDeps.map((d) => d + 1).join(", ")}])`
    const groups = phase.groups.map((group, g) => {
      const deps = group.deps.map(([a, b, c]) => c % 2 === 0 ? `${a + 1}.${b + 1}` : `${a + 1}.${b + 1}.${c}`)
      const head = `- ${p + 1}.${g + 1} G (Dependencies: [${deps.join(", ")}])`
      return [head, ...group.tasks.map((mark, t) => `  - [${mark}] ${p + 1}.${g + 1}.${t + 1} T`)].join("\n")
    })
    return [heading, ...groups].join("\n")
  }).join("\n\n")
)

describe("TaskSelection properties", () => {
  it.prop("plan order respects every dependency and matches repeated select", [listArbitrary], ([source]) => {
    const list = parse(source)
    const plan = TaskSelection.plan(list)
    const tasks = TaskSelection.effectiveTasks(list)
    const status = new Map<string, TaskStatus>(tasks.map((t) => [t.id, t.status]))
    const children = new Map<string, Array<string>>()
    list.sources.forEach((s, i) => {
      const task = list.tasks[i]
      if (s.parentId !== null && task !== undefined) {
        children.set(s.parentId, [...children.get(s.parentId) ?? [], task.id])
      }
    })
    const isComplete = (value: string): boolean => {
      const kids = children.get(value)
      if (kids !== undefined) return kids.every(isComplete)
      const s = status.get(value)
      return s === "completed" || s === "skipped"
    }
    const patches: Array<readonly [TaskId, TaskPatch]> = []
    for (const next of plan.order) {
      const task = tasks.find((t) => t.id === next)
      assert.isDefined(task)
      for (const dependency of task?.dependencies ?? []) {
        assert.isTrue(isComplete(dependency), `${next} runs before its dependency ${dependency} is done`)
      }
      // Repeated SELECT agrees with the dry run.
      assert.strictEqual(selectedId(TaskSelection.select(list, [], patches)), next)
      status.set(next, "completed")
      patches.push([next, new TaskPatch({ status: "completed" })])
    }
    const last = TaskSelection.select(list, [], patches)
    assert.strictEqual(last._tag, plan.blocked.length === 0 ? "Finished" : "Blocked")
    if (last._tag === "Blocked") {
      assert.deepStrictEqual(last.blockers.map((b) => b.taskId), plan.blocked.map((b) => b.taskId))
    }
  }, { fastCheck: { numRuns: 150 } })
})
