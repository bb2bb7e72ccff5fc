/**
 * LOG_FORMAT=pretty prints one line per event: message, annotations, spans and cause together.
 */
import * as Logging from "@devteam/server/Logging"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Logger, LogLevel } from "effect"

describe("LOG_FORMAT=pretty", () => {
  it.effect("one line per event, annotations and the cause on it", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const capture = Logger.map(Logging.formatter("pretty"), (line) => {
        lines.push(line)
      })
      yield* Effect.gen(function*() {
        yield* Effect.logInfo("step started").pipe(
          Effect.annotateLogs({ projectId: "acme/shop", executionId: "e-1", step: "IMPLEMENT", taskId: "1.1.1" })
        )
        yield* Effect.logError("step failed", Cause.fail(new Error("exit 3\nmore detail"))).pipe(
          Effect.annotateLogs({ executionId: "e-1", note: "two words" })
        )
      }).pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, capture)),
        Logger.withMinimumLogLevel(LogLevel.Info)
      )
      assert.strictEqual(lines.length, 2, lines.join("\n---\n"))
      for (const line of lines) assert.notInclude(line, "\n")
      const [started, failed] = lines
      assert.match(started ?? "", /^\d\d:\d\d:\d\d\.\d{3} INFO {2}step started /)
      for (const field of ["projectId=acme/shop", "executionId=e-1", "step=IMPLEMENT", "taskId=1.1.1"]) {
        assert.include(started, field)
      }
      assert.match(failed ?? "", /^\S+ ERROR step failed /)
      assert.include(failed, "executionId=e-1")
      assert.include(failed, `note="two words"`)
      assert.include(failed, `cause="Error: exit 3"`)
    }))
})
