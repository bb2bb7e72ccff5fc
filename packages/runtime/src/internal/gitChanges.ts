/**
 * What a tool changed in the workspace: `git diff` against HEAD including untracked files,
 * computed in the sandbox with a throwaway copy of the index and a throwaway object directory (the
 * repository's objects read as an alternate): nothing is written to `.git`, which the docker
 * sandbox mounts read-only. The same command first removes the tool's scratch files (one sandbox
 * command fewer per run).
 */
import { ToolFailed } from "@devteam/domain/Errors"
import { Effect } from "effect"
import type { SandboxHandle } from "../Sandbox.js"

export interface WorkspaceChanges {
  readonly diff: string
  readonly filesModified: ReadonlyArray<string>
  readonly linesChanged: number
}

// argv: sh -c SCRIPT devteam-changes TMPDIR [SCRATCH…]
const script = [
  "set -e",
  "tmp=\"$1\"; shift",
  "if [ $# -gt 0 ]; then rm -rf -- \"$@\"; fi",
  // one git process for the index and objects paths and HEAD: exit 1 when HEAD is unborn, 128
  // outside a repository (each process in the sandbox costs milliseconds)
  "rc=0; info=$(git rev-parse --path-format=absolute --git-path index --git-path objects --verify -q HEAD) || rc=$?",
  "[ \"$rc\" -le 1 ] || exit \"$rc\"",
  "{ IFS= read -r src; IFS= read -r objects; IFS= read -r head || head=''; } <<EOF",
  "$info",
  "EOF",
  "work=\"$tmp/changes-$$\"",
  "trap 'rm -rf \"$work\"' EXIT",
  "mkdir -p \"$work/objects\"",
  "if [ -f \"$src\" ]; then cp \"$src\" \"$work/index\"; fi",
  "base=${head:-$(git hash-object -t tree /dev/null)}",
  "export GIT_ALTERNATE_OBJECT_DIRECTORIES=\"$objects\"",
  "export GIT_OBJECT_DIRECTORY=\"$work/objects\" GIT_INDEX_FILE=\"$work/index\"",
  "git add -A .",
  // one diff for both: the numstat lines, a blank line, then the patch
  "git -c core.quotePath=false diff --cached --no-renames --no-color --no-ext-diff --numstat --patch \"$base\""
].join("\n")

/** Undoes git's C-style quoting of a path (`"a\\tb"`). */
const unquote = (p: string): string => {
  if (!(p.startsWith("\"") && p.endsWith("\""))) return p
  const body = p.slice(1, -1)
  const bytes: Array<number> = []
  for (let i = 0; i < body.length; i++) {
    const c = body[i] ?? ""
    if (c !== "\\") {
      bytes.push(...Buffer.from(c, "utf8"))
      continue
    }
    const next = body[i + 1] ?? ""
    if (/[0-7]/.test(next)) {
      bytes.push(parseInt(body.slice(i + 1, i + 4), 8))
      i += 3
    } else {
      const map: Record<string, string> = {
        n: "\n",
        t: "\t",
        "\"": "\"",
        "\\": "\\",
        a: "\x07",
        b: "\b",
        f: "\f",
        r: "\r",
        v: "\v"
      }
      bytes.push(...Buffer.from(map[next] ?? next, "utf8"))
      i += 1
    }
  }
  return Buffer.from(bytes).toString("utf8")
}

/**
 * Splits `git diff --numstat --patch`: numstat lines (paths quoted, so none holds a newline) end at
 * the first blank line; the patch follows.
 */
export const parse = (stdout: string): WorkspaceChanges => {
  const at = stdout.indexOf("\n\n")
  const numstat = at < 0 ? stdout : stdout.slice(0, at)
  const diff = at < 0 ? "" : stdout.slice(at + 2)
  const files: Array<string> = []
  let lines = 0
  for (const line of numstat.split("\n")) {
    const m = /^(\d+|-)\t(\d+|-)\t(.+)$/.exec(line)
    if (m === null) continue
    files.push(unquote(m[3] ?? ""))
    lines += (m[1] === "-" ? 0 : Number(m[1])) + (m[2] === "-" ? 0 : Number(m[2]))
  }
  return { diff, filesModified: files, linesChanged: lines }
}

/**
 * Diff, files and changed lines of the workspace against HEAD (untracked files included), after
 * removing `scratch` (the tool's files under the sandbox's tmpdir).
 */
export const collect = (
  handle: SandboxHandle,
  tool: string,
  scratch: ReadonlyArray<string> = []
): Effect.Effect<WorkspaceChanges, ToolFailed> =>
  handle.exec({
    command: ["sh", "-c", script, "devteam-changes", handle.tmpdir, ...scratch],
    env: { GIT_CONFIG_COUNT: "1", GIT_CONFIG_KEY_0: "safe.directory", GIT_CONFIG_VALUE_0: "*" },
    timeout: "120 seconds"
  }).pipe(
    Effect.mapError((e) => new ToolFailed({ message: `cannot read the workspace's changes: ${e.message}`, tool })),
    Effect.flatMap((r) =>
      r.exitCode === 0
        ? Effect.succeed(parse(r.stdout))
        : Effect.fail(
          new ToolFailed({ message: `git diff failed (exit ${r.exitCode}): ${r.stderr.slice(-2000)}`, tool })
        )
    ),
    Effect.withSpan("Tool.collectChanges")
  )
