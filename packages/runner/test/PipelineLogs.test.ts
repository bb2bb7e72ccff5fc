/**
 * Every log line of the pipeline names the execution it belongs to: two executions of one project
 * run one after the other through the real entity and pipeline (local sandbox, script tool, a real
 * bare remote), and every line logged while each ran carries its own `executionId` — never
 * "none", never the previous execution's.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, HashMap, Layer, Logger, LogLevel, Option } from "effect"
import {
  actorLayer,
  e2eConfig,
  finished,
  fourTaskList,
  initializePayload,
  newProjectId,
  poll,
  projectClient
} from "./fixtures/E2E.js"
import { appendScript, makeRemote, projectFiles } from "./fixtures/Pipeline.js"

interface Line {
  readonly message: string
  readonly executionId: string | undefined
  readonly step: string | undefined
}

const get = { correlationId: "logs-probe" }

describe("pipeline logs", () => {
  it.scopedLive("every line of two consecutive executions carries its own executionId", () =>
    Effect.gen(function*() {
      const lines: Array<Line> = []
      const capture = Logger.make<unknown, void>(({ annotations, message }) => {
        const text = (value: Option.Option<unknown>) => Option.getOrUndefined(Option.map(value, String))
        lines.push({
          message: Array.isArray(message) ? message.map(String).join(" ") : String(message),
          executionId: text(HashMap.get(annotations, "executionId")),
          step: text(HashMap.get(annotations, "step"))
        })
      })
      const remote = yield* makeRemote(projectFiles(fourTaskList))
      yield* Effect.gen(function*() {
        const projectId = newProjectId("logs")
        const project = yield* projectClient(projectId)
        const run = (stopPoint: string | undefined) =>
          Effect.gen(function*() {
            const payload = initializePayload(e2eConfig(remote.url, {
              script: appendScript,
              ...(stopPoint === undefined ? {} : { stopPoint })
            }))
            const from = lines.length
            yield* project.Initialize(payload)
            const final = yield* poll(project.GetState(get), finished)
            assert.strictEqual(final.status, "COMPLETED", final.error?.message ?? "")
            return { executionId: String(payload.executionId), lines: lines.slice(from) }
          })
        const first = yield* run("1.1.2")
        const second = yield* run(undefined)
        assert.notStrictEqual(first.executionId, second.executionId)
        for (const execution of [first, second]) {
          const pipeline = execution.lines.filter((line) => line.step !== undefined)
          assert.isAbove(pipeline.length, 5, "the pipeline logged its steps")
          for (const line of execution.lines.filter((l) => l.executionId !== undefined || l.step !== undefined)) {
            assert.strictEqual(line.executionId, execution.executionId, `${line.step ?? ""} ${line.message}`)
          }
        }
      }).pipe(
        Effect.provide(Layer.merge(actorLayer(remote.workspaceDir, "local", LogLevel.Debug), Logger.add(capture)))
      )
    }), 240_000)
})
