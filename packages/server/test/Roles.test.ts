/**
 * The entry point's roles, run as real processes: multi-process roles refuse to start on the
 * embedded database with a clear message, and ROLE=migrate migrates then exits 0.
 */
import * as ServiceEntry from "@devteam/runtime/testing/ServiceEntry"
import { assert, describe, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"

const repoRoot = resolve(import.meta.dirname, "../../..")

const runEntry = (env: Record<string, string>) => {
  const { DATABASE_URL: _ignored, ...inherited } = process.env
  return spawnSync(process.execPath, ServiceEntry.nodeArgs(), {
    cwd: repoRoot,
    env: { ...inherited, LOG_FORMAT: "json", DATA_DIR: mkdtempSync(join(tmpdir(), "devteam-roles-")), ...env },
    encoding: "utf8",
    timeout: 60_000
  })
}

describe("roles", () => {
  for (const role of ["runner", "gateway"]) {
    it(`ROLE=${role} without DATABASE_URL refuses to start, saying why`, () => {
      const result = runEntry({ ROLE: role })
      assert.notStrictEqual(result.status, 0)
      assert.include(result.stdout + result.stderr, `ROLE=${role} needs DATABASE_URL`)
    }, 90_000)
  }

  it("ROLE=migrate runs the migrations of the embedded database and exits 0", () => {
    const result = runEntry({ ROLE: "migrate" })
    assert.strictEqual(result.status, 0, result.stdout + result.stderr)
    assert.include(result.stdout, "migrate ready")
  }, 90_000)
})
