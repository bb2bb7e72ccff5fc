/**
 * TaskListCache over a real Workspace and real git remotes, counting the git processes started
 * (a `git` shim first on PATH): warm reads start none, concurrent fresh reads of one repository —
 * also of two task lists in it — share one fetch, a stale list is served at once while one
 * background refresh brings the new commit, a list this runner pushed is remembered without git,
 * and a missing list is TaskListNotFound.
 */
import * as TaskListCache from "@devteam/runtime/TaskListCache"
import * as GitCounter from "@devteam/runtime/testing/GitCounter"
import { fileUrl, makeBareRemote, pushChange, sampleTaskList, tempDir } from "@devteam/runtime/testing/GitRemote"
import { makeWorkspace } from "@devteam/runtime/testing/TestWorkspace"
import * as WorkspaceModule from "@devteam/runtime/Workspace"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { type Duration, Effect } from "effect"
import * as Path from "node:path"

let counter: GitCounter.GitCounter
beforeAll(() => {
  counter = GitCounter.install()
})
afterAll(() => counter.restore())

const setup = (refresh: Duration.DurationInput) =>
  Effect.gen(function*() {
    const root = yield* tempDir("devteam-tlc-")
    const bare = makeBareRemote({
      root: Path.join(root, "remotes"),
      files: { "docs/DevTeam/tasks_list.md": sampleTaskList, "other/tasks.md": "- [ ] 9.1 Other list\n" }
    })
    const workspaceDir = Path.join(root, "workspaces")
    const workspace = yield* makeWorkspace(workspaceDir)
    const cache = yield* TaskListCache.make(refresh).pipe(
      Effect.provideService(WorkspaceModule.Workspace, workspace)
    )
    const location = { repoUrl: fileUrl(bare), baseBranch: "main", taskListPath: "docs/DevTeam/tasks_list.md" }
    return { bare, cache, location, workspaceDir }
  })

describe("TaskListCache", () => {
  it.scopedLive("warm reads start no git process; concurrent fresh reads share one fetch", () =>
    Effect.gen(function*() {
      const { cache, location, workspaceDir } = yield* setup("1 hour")
      const cold = yield* cache.read(location)
      assert.strictEqual(cold.list.tasks.filter((t) => t.type === "atomic").length, 3)
      assert.match(cold.commit, /^[0-9a-f]{40}$/)
      const afterCold = counter.count(workspaceDir)
      assert.isAbove(afterCold, 0, "the cold read ran git")

      const warm = yield* Effect.all(Array.from({ length: 50 }, () => cache.read(location)), { concurrency: 10 })
      assert.isTrue(warm.every((r) => r.commit === cold.commit))
      assert.strictEqual(counter.count(workspaceDir), afterCold, "warm reads start no git process")

      // a fresh read fetches (no new commit, so the list is not read again)
      yield* cache.read(location, { fresh: true })
      assert.isAbove(counter.count(workspaceDir), afterCold)
      // 20 concurrent fresh reads, of two lists in the repository: one fetch between them
      const before = counter.count(workspaceDir)
      const other = { ...location, taskListPath: "other/tasks.md" }
      yield* cache.read(other) // warm the second list first (its first read parses it)
      const warmedOther = counter.count(workspaceDir)
      const fresh = yield* Effect.all(
        Array.from({ length: 20 }, (_, i) => cache.read(i % 2 === 0 ? location : other, { fresh: true })),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(fresh.length, 20)
      // (counts are of this workspace's invocations: slice those, not every line)
      const inWorkspace = counter.lines().filter((line) => line.includes(workspaceDir))
      const fetches = inWorkspace.slice(warmedOther).filter((line) => / fetch /.test(line))
      assert.strictEqual(fetches.length, 1, inWorkspace.slice(before).join("\n"))
    }))

  it.scopedLive("a stale list is served at once and refreshed in the background; a fresh read sees a push now", () =>
    Effect.gen(function*() {
      const { bare, cache, location } = yield* setup("100 millis")
      const first = yield* cache.read(location)
      const pushed = pushChange({
        remote: bare,
        files: { "docs/DevTeam/tasks_list.md": `${sampleTaskList}  - [ ] 1.2.2 Add a logout page\n` }
      })
      // within TASKLIST_REFRESH: the cached list, no wait
      const cached = yield* cache.read(location)
      assert.strictEqual(cached.commit, first.commit)
      // after it: a read still answers from the cache and starts one refresh; a later read has the push
      const deadline = Date.now() + 20_000
      let seen = cached
      while (seen.commit !== pushed && Date.now() < deadline) {
        yield* Effect.sleep("50 millis")
        seen = yield* cache.read(location)
      }
      assert.strictEqual(seen.commit, pushed)
      assert.strictEqual(seen.list.tasks.filter((t) => t.type === "atomic").length, 4)

      const again = pushChange({
        remote: bare,
        files: { "docs/DevTeam/tasks_list.md": `${sampleTaskList}  - [ ] 1.2.3 Add a profile page\n` }
      })
      const fresh = yield* cache.read(location, { fresh: true })
      assert.strictEqual(fresh.commit, again)
    }))

  it.scopedLive("a list this runner pushed is remembered without git; another list at that commit fetches first", () =>
    Effect.gen(function*() {
      const { bare, cache, location, workspaceDir } = yield* setup("1 hour")
      yield* cache.read(location)
      const ticked = sampleTaskList.replace("- [ ]", "- [x]")
      const pushed = pushChange({ remote: bare, files: { "docs/DevTeam/tasks_list.md": ticked } })
      const before = counter.count(workspaceDir)
      yield* cache.remember(location, pushed, ticked)
      const remembered = yield* cache.read(location)
      assert.strictEqual(remembered.commit, pushed)
      assert.strictEqual(remembered.list.tasks.filter((t) => t.status === "completed").length, 1)
      assert.strictEqual(counter.count(workspaceDir), before, "the remembered list starts no git process")
      // the cache's clone may not hold the commit yet: a list not known at it is read after a fetch
      const other = yield* cache.read({ ...location, taskListPath: "other/tasks.md" })
      assert.strictEqual(other.commit, pushed)
      assert.strictEqual(other.list.tasks.length, 1)
      const fetched = counter.lines().filter((line) => line.includes(workspaceDir)).slice(before)
      assert.strictEqual(fetched.filter((line) => / fetch /.test(line)).length, 1)
      // a fresh read confirms it without reading the remembered list again
      const confirmed = counter.count(workspaceDir)
      const fresh = yield* cache.read(location, { fresh: true })
      assert.strictEqual(fresh.commit, pushed)
      const after = counter.lines().filter((line) => line.includes(workspaceDir)).slice(confirmed)
      assert.isFalse(after.some((line) => / (ls-tree|cat-file) /.test(line)), after.join("\n"))
    }))

  it.scopedLive("no list at the path → TaskListNotFound; an unreachable repository → a typed git error", () =>
    Effect.gen(function*() {
      const { cache, location } = yield* setup("1 hour")
      const missing = yield* Effect.flip(cache.read({ ...location, taskListPath: "docs/none.md" }))
      assert.strictEqual(missing._tag, "TaskListNotFound")
      const unreachable = yield* Effect.flip(cache.read({ ...location, repoUrl: `${location.repoUrl}-missing` }))
      assert.include(["RepositoryAccessDenied", "GitOperationFailed"], unreachable._tag)
    }))
})
