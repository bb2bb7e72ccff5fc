import * as StartupFailure from "@devteam/server/StartupFailure"
import { SqlError } from "@effect/sql/SqlError"
import { assert, describe, it } from "@effect/vitest"
import { Cause } from "effect"

describe("StartupFailure", () => {
  it("names the error and its causes once each, innermost last", () => {
    // PgliteClient's lock: a SqlError whose message is its cause's
    const busy = new Error("the embedded database in ./.data/pglite is in use by process 7; it serves one process only")
    assert.strictEqual(
      StartupFailure.message(Cause.fail(new SqlError({ cause: busy, message: busy.message }))),
      "cannot start: the embedded database in ./.data/pglite is in use by process 7; it serves one process only"
    )
    const duplicate = new Error("duplicate key value violates unique constraint \"x\"")
    assert.strictEqual(
      StartupFailure.describe(new SqlError({ cause: duplicate, message: "Failed to execute statement" })),
      "Failed to execute statement: duplicate key value violates unique constraint \"x\""
    )
  })
})
