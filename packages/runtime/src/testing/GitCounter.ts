/**
 * Counts the git processes this process starts: a `git` shim first on PATH logs each invocation
 * (working directory and arguments) and runs the real git. For tests that show a path starts none.
 */
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

export interface GitCounter {
  /** Invocations so far whose working directory contains `cwdPart` (every one without it). */
  readonly count: (cwdPart?: string) => number
  /** The logged invocations, `<cwd> <args…>` per line. */
  readonly lines: () => ReadonlyArray<string>
  /** Restores PATH and removes the shim. */
  readonly restore: () => void
}

export const install = (): GitCounter => {
  const realGit = execFileSync("sh", ["-c", "command -v git"], { encoding: "utf8" }).trim()
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "devteam-git-counter-"))
  const log = Path.join(dir, "invocations.log")
  Fs.writeFileSync(log, "")
  const shim = Path.join(dir, "git")
  Fs.writeFileSync(shim, `#!/bin/sh\nprintf '%s %s\\n' "$PWD" "$*" >> '${log}'\nexec '${realGit}' "$@"\n`)
  Fs.chmodSync(shim, 0o755)
  const previous = process.env["PATH"]
  process.env["PATH"] = `${dir}:${previous ?? ""}`
  const lines = () => Fs.readFileSync(log, "utf8").split("\n").filter((line) => line.length > 0)
  return {
    lines,
    count: (cwdPart) => lines().filter((line) => cwdPart === undefined || line.includes(cwdPart)).length,
    restore: () => {
      if (previous === undefined) delete process.env["PATH"]
      else process.env["PATH"] = previous
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  }
}
