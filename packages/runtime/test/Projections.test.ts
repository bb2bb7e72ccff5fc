import { ExecutionCommand } from "@devteam/domain/ExecutionCommand"
import { fold } from "@devteam/domain/ExecutionMachine"
import { ExecutionDetails } from "@devteam/domain/ExecutionsApi"
import type { ProjectId } from "@devteam/domain/Ids"
import { JournalEvent } from "@devteam/domain/JournalEvent"
import { ExecutionState, initial, ProjectState, toExecutionState } from "@devteam/domain/ProjectState"
import { EventBus } from "@devteam/runtime/EventBus"
import * as Journal from "@devteam/runtime/Journal"
import * as Projections from "@devteam/runtime/Projections"
import * as ProjectionWriter from "@devteam/runtime/ProjectionWriter"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, layer } from "@effect/vitest"
import { Effect, FastCheck as fc, Layer, Option, Schema } from "effect"
import { backends } from "./fixtures/Databases.js"
import * as S from "./fixtures/Scenario.js"

const stack = <E>(database: Layer.Layer<SqlClient.SqlClient, E>) =>
  Journal.layer.pipe(
    Layer.provideMerge(Projections.Projections.layer),
    Layer.provideMerge(Layer.merge(database, EventBus.layerMemory))
  )

const encodeState = Schema.encodeSync(ProjectState)
const encodeView = Schema.encodeSync(ExecutionState)
const encodeEvent = Schema.encodeSync(JournalEvent)

/** Every projection row of `projects`, in a stable order. */
const snapshot = (projects: ReadonlyArray<ProjectId>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return {
      status: yield* sql`SELECT * FROM project_status WHERE project_id IN ${sql.in(projects)} ORDER BY project_id`,
      executions: yield* sql`SELECT * FROM executions WHERE project_id IN ${sql.in(projects)} ORDER BY execution_id`,
      events: yield* sql`SELECT * FROM events WHERE project_id IN ${sql.in(projects)} ORDER BY id`,
      errors: yield* sql`SELECT * FROM execution_errors WHERE project_id IN ${sql.in(projects)} ORDER BY error_id`,
      tasks: yield* sql`SELECT * FROM execution_tasks WHERE project_id IN ${sql.in(projects)}
        ORDER BY execution_id, task_id`
    }
  })

const dropProjections = (projects: ReadonlyArray<ProjectId>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    for (const table of ["project_status", "executions", "events", "execution_errors", "execution_tasks"]) {
      yield* sql`DELETE FROM ${sql(table)} WHERE project_id IN ${sql.in(projects)}`
    }
  })

/** A random journal: commands chosen by the codes, decided by the real state machine, appended one decision at a time. */
const journalArbitrary = fc.array(
  fc.record({ project: fc.integer({ min: 0, max: 2 }), code: fc.integer({ min: 0, max: 63 }) }),
  { minLength: 40, maxLength: 90 }
)

for (const backend of backends) {
  layer(stack(backend.layer), { timeout: 300_000, excludeTestServices: true })(
    `Projections (${backend.name})`,
    (it) => {
      it.effect("rebuild from the journal == the projections written incrementally (random journals)", () =>
        Effect.gen(function*() {
          const journal = yield* Journal.Journal
          const projections = yield* ProjectionWriter.ProjectionWriter
          const sql = yield* SqlClient.SqlClient
          const samples = fc.sample(journalArbitrary, { numRuns: 8, seed: 20_251_122 })
          let appended = 0
          let taskRows = 0
          const tags = new Set<string>()
          for (const commands of samples) {
            const projects = [S.projectId("a"), S.projectId("b"), S.projectId("c")]
            const writers = projects.map((p) => S.writer(journal, p))
            // every journal starts with an execution so that most commands have something to act on
            for (const w of writers) {
              yield* w.exec(S.initialize(w.state().projectId, `u${projects.indexOf(w.state().projectId)}`))
            }
            for (const [n, { code, project }] of commands.entries()) {
              const w = writers[project]
              if (w === undefined) continue
              const result = yield* w.exec(S.commandFor(w.state(), code, n))
              if (result !== undefined) {
                appended++
                for (const entry of result.entries) tags.add(entry.event._tag)
              }
            }
            const incremental = yield* snapshot(projects)
            taskRows += incremental.tasks.length
            // the writer serialises the state and the view without their schemas: the rows must
            // hold exactly what the schemas encode
            for (const [i, p] of projects.entries()) {
              const state = writers[i]?.state() ?? initial(p)
              const row = incremental.status.find((r) => r["project_id"] === p)
              if (row === undefined) continue
              assert.deepStrictEqual(row["state"], JSON.parse(JSON.stringify(encodeState(state))))
              const view = toExecutionState(state, Schema.decodeUnknownSync(ExecutionState)(row["view"]).lastUpdate)
              assert.deepStrictEqual(row["view"], JSON.parse(JSON.stringify(encodeView(view))))
            }
            // the snapshot state of each project is the fold of its journal
            for (const [i, p] of projects.entries()) {
              const entries = yield* journal.read(p, 0, 1000)
              // the journal stores each event without its schema: the rows hold what the schema encodes
              const stored = yield* sql`SELECT data FROM journal WHERE project_id = ${p} ORDER BY seq`
              assert.deepStrictEqual(
                stored.map((row) => row["data"]),
                entries.map((e) => JSON.parse(JSON.stringify(encodeEvent(e.event))))
              )
              const folded = fold(initial(p), entries.map((e) => e.event))
              assert.deepStrictEqual(encodeState(folded), encodeState(writers[i]?.state() ?? initial(p)))
              const loaded = yield* journal.load(p)
              assert.deepStrictEqual(encodeState(loaded.state), encodeState(folded))
            }
            yield* dropProjections(projects)
            const emptied = yield* snapshot(projects)
            assert.strictEqual(
              emptied.status.length + emptied.executions.length + emptied.events.length + emptied.tasks.length,
              0
            )
            for (const p of projects) yield* projections.rebuildProject(p)
            const rebuilt = yield* snapshot(projects)
            assert.deepStrictEqual(rebuilt, incremental)
          }
          assert.isAbove(appended, 200, "the random journals were too short to mean anything")
          assert.isAbove(taskRows, 0, "no execution_tasks rows: the per-task projection was not exercised")
          assert.isAtLeast(tags.size, 15, `too few kinds of events: ${[...tags].join(", ")}`)
        }))

      it.scoped("two processes taking turns on one project (failover) write the same task_context as a rebuild", () =>
        Effect.gen(function*() {
          const first = yield* Journal.Journal
          // another process: its own Journal instance (and its own caches) on the same database
          const second = yield* Effect.provide(Journal.make, EventBus.layerMemory)
          const projections = yield* ProjectionWriter.ProjectionWriter
          const project = S.projectId("failover")
          const a = S.writer(first, project)
          yield* a.exec(S.initialize(project, "ivy"))
          yield* S.runTask(a, S.task("T1"))
          const b = S.writer(second, project)
          yield* b.reload
          yield* S.runTask(b, S.task("T2"))
          // back to the first process, whose cached task_context is now stale
          yield* a.reload
          yield* a.exec(ExecutionCommand.StartStep({ step: "SELECT", taskId: null, at: S.at() }))
          yield* a.exec(ExecutionCommand.CompleteStep({ outcome: S.outcomeOf(a.state(), "SELECT", S.task("T3")) }))
          const incremental = yield* snapshot([project])
          const eventsRow = incremental.events[0]
          assert.isDefined(eventsRow)
          yield* dropProjections([project])
          yield* projections.rebuildProject(project)
          assert.deepStrictEqual(yield* snapshot([project]), incremental)
        }))

      it.effect("rebuild of every project reproduces the same rows, and a corrupted row is repaired", () =>
        Effect.gen(function*() {
          const journal = yield* Journal.Journal
          const projections = yield* ProjectionWriter.ProjectionWriter
          const sql = yield* SqlClient.SqlClient
          const project = S.projectId("all")
          const w = S.writer(journal, project)
          yield* w.exec(S.initialize(project, "zoe"))
          yield* S.runTask(w, S.task("T1"))
          const before = yield* snapshot([project])
          yield* sql`UPDATE project_status SET status = 'IDLE', last_seq = 0 WHERE project_id = ${project}`
          yield* sql`UPDATE executions SET progress = 0 WHERE project_id = ${project}`
          const report = yield* projections.rebuild
          assert.isAtLeast(report.projects, 1)
          assert.isAtLeast(report.entries, 15)
          assert.deepStrictEqual(yield* snapshot([project]), before)
        }))

      it.effect("upgrading a database projected before execution_tasks: the migration's rebuild fills the details", () =>
        Effect.gen(function*() {
          const journal = yield* Journal.Journal
          const sql = yield* SqlClient.SqlClient
          const project = S.projectId("upgrade")
          const w = S.writer(journal, project)
          yield* w.exec(S.initialize(project, "uma"))
          yield* S.runTask(w, S.task("T1"))
          const executionId = w.state().executionId
          assert.isNotNull(executionId)
          if (executionId === null) return
          const projections = yield* Projections.Projections
          const current = Option.getOrThrow(yield* projections.execution(executionId))
          assert.deepStrictEqual(current.tasks.map((t) => [t.taskId, t.status]), [["T1", "completed"]])
          // the database as the previous release left it: migration 2 not applied, nothing in its columns
          yield* sql`DELETE FROM devteam_migrations WHERE module = 'projections' AND migration_id = 2`
          yield* sql`DELETE FROM execution_tasks`
          yield* sql`UPDATE executions SET config = NULL`
          yield* sql`UPDATE execution_errors SET seq = NULL`
          assert.isTrue(Option.isNone(yield* projections.execution(executionId)))
          // the next start-up's writer applies migration 2 and rebuilds
          yield* ProjectionWriter.make
          const upgraded = Option.getOrThrow(yield* projections.execution(executionId))
          assert.deepStrictEqual(
            Schema.encodeSync(ExecutionDetails)(upgraded),
            Schema.encodeSync(ExecutionDetails)(current)
          )
        }))
    }
  )
}
