/**
 * Configuration is checked before any I/O and every problem is reported at once, each naming its
 * variable: the real entry point, spawned with bad settings, must exit 1 listing them all without
 * having touched the database (its DATA_DIR is never created).
 */
import * as ServiceEntry from "@devteam/runtime/testing/ServiceEntry"
import { assert, describe, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import { existsSync, mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"

const repoRoot = resolve(import.meta.dirname, "../../..")

const runEntry = (env: Record<string, string>) => {
  const { DATABASE_URL: _db, LOG_FORMAT: _format, LOG_LEVEL: _level, ...inherited } = process.env
  const dataDir = join(mkdtempSync(join(tmpdir(), "devteam-config-")), "data")
  const result = spawnSync(process.execPath, ServiceEntry.nodeArgs(), {
    cwd: repoRoot,
    env: { ...inherited, DATA_DIR: dataDir, ...env },
    encoding: "utf8",
    timeout: 60_000
  })
  // JSON log lines (LOG_FORMAT falls back to json off a TTY): their messages, plus anything else
  const output = (result.stdout + result.stderr).split("\n").map((line) => {
    try {
      const parsed: unknown = JSON.parse(line)
      return typeof parsed === "object" && parsed !== null && "message" in parsed ? String(parsed.message) : line
    } catch {
      return line
    }
  }).join("\n")
  return { ...result, output, dataDir }
}

describe("start-up configuration", () => {
  it("every bad variable is named, all in one report, before the database is touched", () => {
    const result = runEntry({
      LOG_LEVEL: "loud",
      LOG_FORMAT: "xml",
      SANDBOX_CPUS: "abc",
      MAX_CONCURRENT_EXECUTIONS: "many",
      VERIFY_RETRIES: "9",
      WORKSPACE_MAX_IDLE: "soon"
    })
    assert.strictEqual(result.status, 1, result.output)
    assert.include(result.output, "invalid configuration (6 problems)", result.output)
    assert.include(
      result.output,
      "LOG_LEVEL: Expected one of (trace, debug, info, warn, error, none) but received \"loud\""
    )
    assert.include(result.output, "LOG_FORMAT: Expected one of (pretty, json, logfmt) but received \"xml\"")
    assert.include(result.output, "SANDBOX_CPUS: Expected a number value but received \"abc\"")
    assert.include(result.output, "MAX_CONCURRENT_EXECUTIONS: Expected an integer value but received \"many\"")
    assert.include(result.output, "VERIFY_RETRIES must be between 0 and 5")
    assert.include(result.output, "WORKSPACE_MAX_IDLE")
    assert.isFalse(existsSync(result.dataDir), "the embedded database was not started")
  }, 90_000)

  it("a topology problem is reported with the rest (ROLE=runner needs DATABASE_URL)", () => {
    const result = runEntry({ ROLE: "runner", SANDBOX_MEMORY_MIB: "1" })
    assert.strictEqual(result.status, 1, result.output)
    assert.include(result.output, "invalid configuration (2 problems)")
    assert.include(result.output, "ROLE=runner needs DATABASE_URL")
    assert.include(result.output, "SANDBOX_MEMORY_MIB must be ≥ 64")
  }, 90_000)
})
