import { EventData, EventRecord, TaskContext, TaskContextMetadata } from "@devteam/domain/EventRecord"
import { ExecutionCommand } from "@devteam/domain/ExecutionCommand"
import { decide, evolveEach, fold } from "@devteam/domain/ExecutionMachine"
import { EventId, ExecutionId, ProjectId, TaskId, UserId } from "@devteam/domain/Ids"
import { TaskPatch } from "@devteam/domain/Injection"
import { LogLine } from "@devteam/domain/JournalEvent"
import { initial, ProjectState } from "@devteam/domain/ProjectState"
import { EventBus } from "@devteam/runtime/EventBus"
import * as Journal from "@devteam/runtime/Journal"
import * as Projections from "@devteam/runtime/Projections"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, layer } from "@effect/vitest"
import { Array as Arr, Effect, Either, Exit, Layer, Option, Schema } from "effect"
import { backends } from "./fixtures/Databases.js"
import * as S from "./fixtures/Scenario.js"

const encodeState = Schema.encodeSync(ProjectState)

const stack = <E>(database: Layer.Layer<SqlClient.SqlClient, E>) =>
  Journal.layer.pipe(
    Layer.provideMerge(Projections.Projections.layer),
    Layer.provideMerge(Layer.merge(database, EventBus.layerMemory))
  )

/** Appends the decision of `command` at (state, seq) through `journal`; returns the new (state, seq). */
const decideAndAppend = (
  journal: Journal.JournalService,
  projectId: ProjectId,
  state: ProjectState,
  seq: number,
  command: ExecutionCommand
) =>
  Effect.gen(function*() {
    const decision = decide(state, command)
    if (Either.isLeft(decision) || !Arr.isNonEmptyReadonlyArray(decision.right)) {
      return yield* Effect.dieMessage(`command ${command._tag} was not accepted`)
    }
    const steps = evolveEach(state, decision.right)
    const result = yield* journal.append({ projectId, expectedSeq: seq, steps, correlationId: "c" })
    return { state: Arr.lastNonEmpty(steps).after, seq: result.lastSeq }
  })

for (const backend of backends) {
  layer(stack(backend.layer), { timeout: 120_000, excludeTestServices: true })(`Journal (${backend.name})`, (it) => {
    it.effect("appends a whole task with consecutive seqs; read, frames and load agree with the fold", () =>
      Effect.gen(function*() {
        const journal = yield* Journal.Journal
        const projections = yield* Projections.Projections
        const project = S.projectId("happy")
        const w = S.writer(journal, project)
        const first = yield* w.exec(S.initialize(project, "alice"), "corr-init")
        assert.isDefined(first)
        assert.strictEqual(first?.entries[0].seq, 1)
        assert.strictEqual(first?.frames[0]?.frame.type, "execution-update")
        yield* S.runTask(w, S.task("T1"))
        assert.strictEqual(w.seq(), 15)
        const entries = yield* journal.read(project, 0, 100)
        assert.deepStrictEqual(entries.map((e) => e.seq), Arr.range(1, 15))
        assert.strictEqual(entries[0]?.correlationId, "corr-init")
        assert.strictEqual(entries[0]?.executionId, w.state().executionId)
        const folded = fold(initial(project), entries.map((e) => e.event))
        assert.deepStrictEqual(encodeState(folded), encodeState(w.state()))
        const loaded = yield* journal.load(project)
        assert.strictEqual(loaded.lastSeq, 15)
        assert.deepStrictEqual(encodeState(loaded.state), encodeState(w.state()))
        const frames = (yield* journal.readFrames(project, 5, 100)).map((f) => f.frame)
        assert.deepStrictEqual(frames.map((f) => f.seq), Arr.range(6, 15))
        assert.isTrue(frames.every((f) => f.projectId === project))
        assert.deepStrictEqual((yield* journal.read(project, 10, 2)).map((e) => e.seq), [11, 12])
        assert.strictEqual(yield* journal.lastSeq(project), 15)
        const status = yield* projections.status(project)
        assert.isTrue(Option.isSome(status))
        if (Option.isSome(status)) {
          assert.strictEqual(status.value.status, w.state().status)
          assert.strictEqual(status.value.completedTasks, 1)
          assert.strictEqual(status.value.executionId, w.state().executionId)
        }
      }))

    it.effect("fences a stale writer: its append is refused and nothing of it is kept", () =>
      Effect.gen(function*() {
        const journal = yield* Journal.Journal
        const projections = yield* Projections.Projections
        const project = S.projectId("fence")
        const a = S.writer(journal, project)
        const b = S.writer(journal, project)
        yield* a.exec(S.initialize(project, "alice"))
        const stale = yield* Effect.flip(b.exec(S.initialize(project, "bob")))
        assert.strictEqual(stale._tag, "JournalFenced")
        assert.strictEqual(stale.seq, 1)
        assert.strictEqual(stale.projectId, project)
        const entries = yield* journal.read(project, 0, 10)
        assert.strictEqual(entries.length, 1)
        const status = yield* projections.status(project)
        assert.strictEqual(Option.getOrThrow(status).executionId, a.state().executionId)
        assert.deepStrictEqual(yield* projections.executionsActive(UserId.make("bob")), [])
        // a multi-event append that collides on its first seq is refused whole
        yield* b.reload
        assert.strictEqual(b.seq(), 1)
        const ok = yield* b.exec(ExecutionCommand.UpdateTask({
          taskId: TaskId.make("T9"),
          patch: new TaskPatch({ title: "x" }),
          at: S.at()
        }))
        assert.strictEqual(ok?.lastSeq, 2)
        const again = yield* Effect.flip(a.exec(ExecutionCommand.Pause({ at: S.at() })))
        assert.strictEqual(again._tag, "JournalFenced")
        assert.strictEqual((yield* journal.read(project, 0, 10)).length, 2)
      }))

    it.effect("two writers racing on one project: one success per seq, the other fenced, nothing lost or duplicated", () =>
      Effect.gen(function*() {
        const journal = yield* Journal.Journal
        const project = S.projectId("race")
        const perWriter = 15
        const run = (name: string) =>
          Effect.gen(function*() {
            const w = S.writer(journal, project)
            let written = 0
            let fenced = 0
            while (written < perWriter) {
              const exit = yield* Effect.exit(w.exec(ExecutionCommand.UpdateTask({
                taskId: TaskId.make("T1"),
                patch: new TaskPatch({ title: `${name}-${written}` }),
                at: S.at()
              })))
              if (Exit.isSuccess(exit)) written++
              else {
                fenced++
                yield* w.reload
              }
              yield* Effect.yieldNow()
            }
            return fenced
          })
        const [fencedA, fencedB] = yield* Effect.all([run("a"), run("b")], { concurrency: 2 })
        const entries = yield* journal.read(project, 0, 1000)
        assert.deepStrictEqual(entries.map((e) => e.seq), Arr.range(1, 2 * perWriter))
        const titles = entries.flatMap((e) => e.event._tag === "TaskUpdated" ? [e.event.patch.title ?? ""] : [])
        assert.strictEqual(new Set(titles).size, 2 * perWriter)
        for (const name of ["a", "b"]) {
          for (let i = 0; i < perWriter; i++) assert.include(titles, `${name}-${i}`)
        }
        assert.isAbove(fencedA + fencedB, 0, "the writers never collided")
        const loaded = yield* journal.load(project)
        assert.strictEqual(loaded.lastSeq, 2 * perWriter)
      }))

    it.effect("concurrent appends at the same seq: exactly one wins", () =>
      Effect.gen(function*() {
        const journal = yield* Journal.Journal
        const project = S.projectId("same-seq")
        const state = initial(project)
        const attempts = yield* Effect.all(
          Arr.range(1, 6).map((i) =>
            Effect.exit(decideAndAppend(
              journal,
              project,
              state,
              0,
              ExecutionCommand.UpdateTask({
                taskId: TaskId.make("T1"),
                patch: new TaskPatch({ title: `t${i}` }),
                at: S.at()
              })
            ))
          ),
          { concurrency: "unbounded" }
        )
        assert.strictEqual(attempts.filter(Exit.isSuccess).length, 1)
        for (const exit of attempts.filter(Exit.isFailure)) {
          assert.isTrue(
            Exit.isFailure(exit) && Option.getOrThrow(Exit.causeOption(exit)).toString().includes("JournalFenced")
          )
        }
        assert.strictEqual((yield* journal.read(project, 0, 10)).length, 1)
      }))

    it.effect("group commit: many projects appending at once all commit; stale writers among them are fenced alone", () =>
      Effect.gen(function*() {
        const journal = yield* Journal.Journal
        const projections = yield* Projections.Projections
        const projects = Arr.range(1, 40).map((i) => S.projectId(`group-${i}`))
        const update = (project: ProjectId, state: ProjectState, seq: number, title: string) =>
          decideAndAppend(
            journal,
            project,
            state,
            seq,
            ExecutionCommand.UpdateTask({ taskId: TaskId.make("T1"), patch: new TaskPatch({ title }), at: S.at() })
          )
        // every project has one entry; a stale writer of every fourth project still believes it has none
        const first = yield* Effect.forEach(projects, (project) => update(project, initial(project), 0, "first"), {
          concurrency: "unbounded"
        })
        const rounds = 5
        const writer = (project: ProjectId, start: { readonly state: ProjectState; readonly seq: number }) =>
          Effect.gen(function*() {
            let at = start
            for (let round = 0; round < rounds; round++) at = yield* update(project, at.state, at.seq, `r${round}`)
            return { _tag: "writer" as const, seq: at.seq }
          })
        const stale = (project: ProjectId) =>
          Effect.map(
            Effect.exit(update(project, initial(project), 0, "stale")),
            (exit) => ({ _tag: "stale" as const, exit })
          )
        // all at once, the stale ones in the middle of the crowd (so that they share batches with others)
        const tasks = Arr.zip(projects, first).flatMap(([project, start], i) =>
          i % 4 === 3 ? [writer(project, start), stale(project)] : [writer(project, start)]
        )
        const outcomes = yield* Effect.all(tasks, { concurrency: "unbounded" })
        const staleExits = outcomes.flatMap((o) => o._tag === "stale" ? [o.exit] : [])
        assert.strictEqual(staleExits.length, 10)
        for (const exit of staleExits) {
          assert.isTrue(Exit.isFailure(exit), "a stale writer was not fenced")
          assert.include(Option.getOrThrow(Exit.causeOption(exit)).toString(), "JournalFenced")
        }
        assert.deepStrictEqual(
          outcomes.flatMap((o) => o._tag === "writer" ? [o.seq] : []),
          projects.map(() => rounds + 1)
        )
        for (const project of projects) {
          const entries = yield* journal.read(project, 0, 100)
          assert.deepStrictEqual(entries.map((e) => e.seq), Arr.range(1, rounds + 1))
          const titles = entries.flatMap((e) => e.event._tag === "TaskUpdated" ? [e.event.patch.title ?? ""] : [])
          assert.deepStrictEqual(titles, ["first", ...Arr.range(0, rounds - 1).map((r) => `r${r}`)])
          // the projection was written in the same statement as each append: it holds the last title
          const record = yield* projections.project(project)
          const patches = Option.getOrThrow(record).state.patches
          assert.deepStrictEqual(patches.map(([, patch]) => patch.title), [`r${rounds - 1}`])
        }
      }))

    it.effect("a decision of two events is one append; the stop point completes the execution", () =>
      Effect.gen(function*() {
        const journal = yield* Journal.Journal
        const projections = yield* Projections.Projections
        const project = S.projectId("stop")
        const w = S.writer(journal, project)
        yield* w.exec(S.initialize(project, "carol", "T1"))
        yield* S.runTask(w, S.task("T1"))
        const entries = yield* journal.read(project, 0, 100)
        const last2 = entries.slice(-2)
        assert.deepStrictEqual(last2.map((e) => e.event._tag), ["TaskListUpdated", "ExecutionCompleted"])
        assert.strictEqual(last2[0]?.ts, last2[1]?.ts)
        const frames = (yield* journal.readFrames(project, 0, 100)).map((f) => f.frame)
        assert.strictEqual(frames[frames.length - 1]?.type, "execution-completed")
        assert.strictEqual(w.state().status, "COMPLETED")
        const history = yield* projections.executionsHistory(UserId.make("carol"), 20)
        assert.strictEqual(history.length, 1)
        assert.strictEqual(history[0]?.status, "COMPLETED")
        assert.strictEqual(history[0]?.completedTasks, 1)
        assert.isNotNull(history[0]?.endTime)
        assert.deepStrictEqual(yield* projections.executionsActive(UserId.make("carol")), [])
        assert.notInclude(yield* projections.activeProjects, project)
      }))

    it.effect("projections: status, active/history, execution artifacts, error record, event record", () =>
      Effect.gen(function*() {
        const journal = yield* Journal.Journal
        const projections = yield* Projections.Projections
        const project = S.projectId("proj")
        const user = UserId.make(`dave-${S.uuid().slice(0, 6)}`)
        const w = S.writer(journal, project)
        yield* w.exec(S.initialize(project, user))
        assert.include(yield* projections.activeProjects, project)
        yield* S.runTask(w, S.task("T1"))
        // second task fails in VERIFY
        for (const step of ["SELECT", "PREP", "IMPLEMENT"] as const) {
          yield* w.exec(ExecutionCommand.StartStep({ step, taskId: w.state().currentTask?.id ?? null, at: S.at() }))
          yield* w.exec(ExecutionCommand.CompleteStep({ outcome: S.outcomeOf(w.state(), step, S.task("T2"), 7) }))
        }
        yield* w.exec(ExecutionCommand.StartStep({ step: "VERIFY", taskId: TaskId.make("T2"), at: S.at() }))
        const failure = S.failure(w.state(), "VERIFY", "tests failed")
        yield* w.exec(ExecutionCommand.FailStep({ error: failure, at: S.at() }))
        const executionId = Option.fromNullable(w.state().executionId).pipe(Option.getOrThrow)

        const status = Option.getOrThrow(yield* projections.status(project))
        assert.strictEqual(status.status, "FAILED")
        assert.strictEqual(status.error?.errorId, failure.errorId)
        assert.strictEqual(status.currentTask, "T2")

        const active = yield* projections.executionsActive(user)
        assert.deepStrictEqual(active, [], "FAILED is not active")
        const history = yield* projections.executionsHistory(user, 5)
        assert.strictEqual(history.length, 1)
        assert.strictEqual(history[0]?.executionId, executionId)
        assert.strictEqual(history[0]?.error?.errorId, failure.errorId)

        const detail = Option.getOrThrow(yield* projections.execution(executionId))
        // served from the projection (execution_tasks, execution_errors), in the order the tasks were named
        assert.strictEqual(detail.projectId, project)
        assert.strictEqual(detail.status, "FAILED")
        assert.strictEqual(detail.config.userId, user)
        assert.deepStrictEqual(detail.tasks.map((t) => t.taskId), ["T1", "T2"])
        assert.deepStrictEqual(detail.tasks.map((t) => t.status), ["completed", "failed"])
        assert.strictEqual(detail.tasks[0]?.artifacts.length, 1)
        assert.isNotNull(detail.tasks[0]?.verification ?? null)
        assert.isNotNull(detail.tasks[0]?.branch ?? null)
        assert.isNotNull(detail.tasks[0]?.mergeCommit ?? null)
        assert.strictEqual(detail.tasks[1]?.artifacts[0]?.outputs.linesChanged, 7)
        assert.isNull(detail.tasks[1]?.verification ?? null)
        assert.deepStrictEqual(detail.errors.map((e) => e.errorId), [failure.errorId])
        assert.isTrue(Option.isNone(yield* projections.execution(ExecutionId.make(S.uuid()))))

        const error = Option.getOrThrow(yield* projections.error(executionId, failure.errorId))
        assert.strictEqual(error.message, "tests failed")
        assert.deepStrictEqual(error.logs, ["line 1", "line 2"])
        assert.deepStrictEqual(error.details, { exitCode: 1 })
        assert.strictEqual(error.occurredAt, failure.occurredAt)

        const eventId = Option.fromNullable(w.state().eventId).pipe(Option.getOrThrow)
        const record = Option.getOrThrow(yield* projections.eventRecord(eventId))
        assert.strictEqual(record.data.projectId, project)
        assert.strictEqual(record.data.userId, user)
        assert.strictEqual(record.task_context.metadata.executionId, executionId)
        assert.strictEqual(record.task_context.nodes.UpdateTaskListNode?.status, "completed")
        assert.strictEqual(record.task_context.nodes.ImplementNode?.status, "completed")
        assert.strictEqual(record.task_context.nodes.VerifyNode?.status, "failed")

        // resume and it is active again
        yield* w.exec(ExecutionCommand.Resume({ at: S.at() }))
        assert.strictEqual((yield* projections.executionsActive(user)).length, 1)
        assert.include(yield* projections.activeProjects, project)
        const all = yield* projections.projects
        assert.isTrue(all.some((p) => p.projectId === project && p.status === "QUEUED"))
      }))

    it.effect("an Event record stored by POST /events keeps its data; the projection fills task_context", () =>
      Effect.gen(function*() {
        const journal = yield* Journal.Journal
        const projections = yield* Projections.Projections
        const project = S.projectId("events")
        const command = S.initialize(project, "erin")
        const createdAt = "2025-01-01T00:00:00.000Z"
        yield* projections.insertEventRecord(
          new EventRecord({
            id: command.eventId,
            workflow_type: "DEVTEAM_AUTOMATION",
            data: new EventData({
              projectId: project,
              repoUrl: "https://example.com/original.git",
              options: { idempotencyKey: "key-1" }
            }),
            task_context: new TaskContext({
              nodes: {},
              metadata: new TaskContextMetadata({
                correlationId: "post",
                executionId: command.executionId,
                projectId: project
              })
            }),
            created_at: createdAt,
            updated_at: createdAt
          })
        )
        const w = S.writer(journal, project)
        yield* w.exec(command)
        yield* w.exec(ExecutionCommand.StartStep({ step: "SELECT", taskId: null, at: S.at() }))
        const record = Option.getOrThrow(yield* projections.eventRecord(command.eventId))
        assert.strictEqual(record.data.repoUrl, "https://example.com/original.git")
        assert.strictEqual(record.data.options?.idempotencyKey, "key-1")
        assert.strictEqual(record.created_at, createdAt)
        assert.strictEqual(record.task_context.nodes.SelectNode?.status, "running")
        assert.notStrictEqual(record.updated_at, createdAt)
        assert.isTrue(Option.isNone(yield* projections.eventRecord(EventId.make(S.uuid()))))
      }))

    it.effect("log batches share the sequence, skip projections, and load still folds the snapshot", () =>
      Effect.gen(function*() {
        const journal = yield* Journal.Journal
        const project = S.projectId("logs")
        const w = S.writer(journal, project)
        yield* w.exec(S.initialize(project, "frank"))
        yield* w.exec(ExecutionCommand.StartStep({ step: "SELECT", taskId: null, at: S.at() }))
        for (let i = 0; i < 5; i++) {
          const result = yield* w.exec(ExecutionCommand.AppendLogs({
            taskId: null,
            step: "SELECT",
            lines: [
              new LogLine({ level: "info", message: `line ${i}`, at: S.at() }),
              new LogLine({ level: "error", message: `oops ${i}`, at: S.at() })
            ],
            at: S.at()
          }))
          assert.strictEqual(result?.frames[0]?.frame.type, "execution-log")
        }
        const frames = (yield* journal.readFrames(project, 2, 100)).map((f) => f.frame)
        assert.deepStrictEqual(frames.map((f) => f.seq), [3, 4, 5, 6, 7])
        const logFrame = frames[0]
        assert.isTrue(logFrame?.type === "execution-log" && logFrame.payload.level === "error")
        const sql = yield* SqlClient.SqlClient
        const rows = yield* sql`SELECT last_seq FROM project_status WHERE project_id = ${project}`
        assert.strictEqual(Number(rows[0]?.["last_seq"]), 2)
        const loaded = yield* journal.load(project)
        assert.strictEqual(loaded.lastSeq, 7)
        assert.deepStrictEqual(encodeState(loaded.state), encodeState(w.state()))
        yield* w.exec(ExecutionCommand.CompleteStep({ outcome: S.outcomeOf(w.state(), "SELECT", S.task("T1")) }))
        const reloaded = yield* journal.load(project)
        assert.strictEqual(reloaded.lastSeq, 8)
        assert.deepStrictEqual(encodeState(reloaded.state), encodeState(w.state()))
        const none = S.projectId("none")
        const empty = yield* journal.load(none)
        assert.strictEqual(empty.lastSeq, 0)
        assert.deepStrictEqual(encodeState(empty.state), encodeState(initial(none)))
      }))

    it.effect("lastSeqs: the last seq of every project asked for, in one query; no journal, no entry", () =>
      Effect.gen(function*() {
        const journal = yield* Journal.Journal
        const one = S.projectId("last-a")
        const two = S.projectId("last-b")
        const none = S.projectId("last-none")
        yield* S.writer(journal, one).exec(S.initialize(one, undefined))
        const w = S.writer(journal, two)
        yield* w.exec(S.initialize(two, undefined))
        yield* S.runTask(w, S.task("T1"))
        const last = yield* journal.lastSeqs([one, two, none])
        assert.deepStrictEqual([...last.entries()].sort(), [[one, 1], [two, w.seq()]].sort())
        assert.strictEqual((yield* journal.lastSeqs([])).size, 0)
      }))
  })
}
