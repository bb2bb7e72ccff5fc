/**
 * Real git remotes for tests: bare repositories seeded with files (a task list by default), a
 * "second clone" that pushes behind the service's back, and readers of a remote's state.
 *
 * Everything runs the real `git` binary with an isolated configuration (no global/system config).
 */
import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
export const testAuthor = { name: "Fixture Author", email: "fixture@example.test" }
const fixtureEnv = () => ({
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  LC_ALL: "C",
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_CONFIG_GLOBAL: "/dev/null",
  GIT_TERMINAL_PROMPT: "0",
  GIT_AUTHOR_NAME: testAuthor.name,
  GIT_AUTHOR_EMAIL: testAuthor.email,
  GIT_COMMITTER_NAME: testAuthor.name,
  GIT_COMMITTER_EMAIL: testAuthor.email
})
/** Runs git synchronously and returns stdout; throws (with stderr) on a non-zero exit. */
export const git = (cwd, args, input) =>
  execFileSync("git", [...args], {
    cwd,
    env: fixtureEnv(),
    encoding: "utf8",
    input: input ?? "",
    stdio: ["pipe", "pipe", "pipe"],
    maxBuffer: 64 * 1024 * 1024
  })
/** A temporary directory removed when the scope closes. */
export const tempDir = (prefix = "devteam-git-") =>
  Effect.acquireRelease(
    Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), prefix))),
    (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
  )
export const sampleTaskList = `# Tasks

Phase 1: Foundations

- 1.1 Setup (Dependencies: [])
  - [ ] 1.1.1 Create the project skeleton
  - [ ] 1.1.2 Add a README
- 1.2 Pages (Dependencies: [1.1])
  - [ ] 1.2.1 Add login page
`
export const defaultFiles = {
  "README.md": "# Sample\n\nline one\nline two\n",
  "docs/DevTeam/tasks_list.md": sampleTaskList,
  "src/index.js": "console.log(\"hello\")\n"
}
const writeFiles = (dir, files) => {
  for (const [file, content] of Object.entries(files)) {
    const full = Path.join(dir, file)
    Fs.mkdirSync(Path.dirname(full), { recursive: true })
    Fs.writeFileSync(full, content)
  }
}
/** Creates `<root>/<name>` as a bare repository whose `branch` holds one commit with `files`; returns its path. */
export const makeBareRemote = (options) => {
  const branch = options.branch ?? "main"
  const bare = Path.join(options.root, options.name ?? "repo.git")
  Fs.mkdirSync(bare, { recursive: true })
  git(bare, ["init", "--quiet", "--bare", `--initial-branch=${branch}`])
  const work = Fs.mkdtempSync(Path.join(Os.tmpdir(), "devteam-seed-"))
  try {
    git(work, ["init", "--quiet", `--initial-branch=${branch}`])
    writeFiles(work, options.files ?? defaultFiles)
    git(work, ["add", "--all"])
    git(work, ["commit", "--quiet", "-m", "Initial commit"])
    git(work, ["push", "--quiet", bare, `HEAD:refs/heads/${branch}`])
  } finally {
    Fs.rmSync(work, { recursive: true, force: true })
  }
  return bare
}
/** A second clone that commits `files` on `branch` and pushes first; returns the new commit. */
export const pushChange = (options) => {
  const branch = options.branch ?? "main"
  const work = Fs.mkdtempSync(Path.join(Os.tmpdir(), "devteam-second-clone-"))
  try {
    git(work, ["clone", "--quiet", "--branch", branch, "--", options.remote, "."])
    writeFiles(work, options.files)
    git(work, ["add", "--all"])
    git(work, ["commit", "--quiet", "-m", options.message ?? "Concurrent change"])
    git(work, ["push", "--quiet", "origin", `HEAD:refs/heads/${branch}`])
    return git(work, ["rev-parse", "HEAD"]).trim()
  } finally {
    Fs.rmSync(work, { recursive: true, force: true })
  }
}
export const remoteHead = (bare, branch = "main") => git(bare, ["rev-parse", `refs/heads/${branch}`]).trim()
export const remoteFile = (bare, path, branch = "main") => git(bare, ["show", `refs/heads/${branch}:${path}`])
/** Every ref of the repository with its commit: compare before/after to prove nothing was written. */
export const refsOf = (repo) => git(repo, ["for-each-ref", "--format=%(refname) %(objectname)"])
/** True when `ancestor` is reachable from `descendant` in `repo`. */
export const isAncestor = (repo, ancestor, descendant) => {
  try {
    git(repo, ["merge-base", "--is-ancestor", ancestor, descendant])
    return true
  } catch {
    return false
  }
}
/** `file://` URL of a local path. */
export const fileUrl = (path) => `file://${path}`
// # sourceMappingURL=GitRemote.js.map
