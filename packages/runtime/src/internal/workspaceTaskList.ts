/**
 * The task-list file of the Workspace port, in a work tree: its text on the base branch (read), and
 * the "<id>: mark completed" tick committed on the base branch and pushed (idempotent: a re-run
 * finds the tick made and pushes only what is missing).
 *
 * The tick is built with plumbing on a private index, so the work tree is never written through a
 * path from the repository (a symlinked directory cannot redirect the write).
 */
import { BadRequest, TaskNotFound } from "@devteam/domain/Errors"
import { Effect, Option } from "effect"
import { randomBytes } from "node:crypto"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import {
  type MarkTaskCompletedOptions,
  maxTaskListBytes,
  type ReadTaskListOptions,
  type Workspace
} from "../Workspace.js"
import type { WorkspaceLocks } from "../WorkspaceLocks.js"
import { checkBranchName as checkBranch, checkRepoFilePath } from "./gitNames.js"
import { fullRef, type GitPlumbing } from "./gitPlumbing.js"
import * as GitRefs from "./gitRefs.js"

type TaskListFile = Pick<Workspace["Type"], "readTaskList" | "markTaskCompleted">

export const make = (plumbing: GitPlumbing, locks: WorkspaceLocks["Type"]): TaskListFile => {
  const {
    baseTip,
    checkRepoPath,
    cleanState,
    currentBranch,
    ensureLocalBase,
    fileAt,
    gitOk,
    headCommit,
    pushBase,
    touch,
    workspaceDir
  } = plumbing
  // Under the lock, before any git: the git dir a sandbox could write is made trustworthy again.
  const withRepoLock = (key: string) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
    locks.withLock(Path.join(workspaceDir, key))(
      Effect.zipRight(plumbing.secureGitDir(Path.join(workspaceDir, key)), self)
    )
  const readBlob = (dir: string, file: { readonly blob: string; readonly size: number; readonly text?: string }) =>
    file.text !== undefined && file.size <= maxTaskListBytes
      ? Effect.succeed(file.text)
      : plumbing.readBlob(dir, file.blob, maxTaskListBytes, file.size)

  const readTaskList = Effect.fn("Workspace.readTaskList")(function*(options: ReadTaskListOptions) {
    const { dir, key } = yield* checkRepoPath(options.repoPath)
    yield* checkBranch(options.baseBranch, "baseBranch")
    const path = yield* checkRepoFilePath(options.path)
    return yield* withRepoLock(key)(Effect.gen(function*() {
      const rev = yield* baseTip(dir, options.baseBranch)
      const file = yield* fileAt(dir, rev, path)
      if (Option.isNone(file)) return Option.none<string>()
      return Option.some(yield* readBlob(dir, file.value))
    }))
  })

  const markTaskCompleted = Effect.fn("Workspace.markTaskCompleted")(function*(options: MarkTaskCompletedOptions) {
    const { dir, key } = yield* checkRepoPath(options.repoPath)
    yield* checkBranch(options.baseBranch, "baseBranch")
    const path = yield* checkRepoFilePath(options.path)
    const base = options.baseBranch
    return yield* withRepoLock(key)(Effect.gen(function*() {
      yield* cleanState(dir)
      const tip = yield* ensureLocalBase(dir, base)
      const file = yield* fileAt(dir, tip, path)
      if (Option.isNone(file)) {
        return yield* new BadRequest({ message: `The task list ${JSON.stringify(path)} does not exist on '${base}'` })
      }
      const source = yield* readBlob(dir, file.value)
      const rendered = options.render(source)
      if (rendered === null) {
        return yield* new TaskNotFound({
          message: `Task ${options.taskId} is not in the task list ${path}`,
          taskId: options.taskId
        })
      }
      let commit = tip
      const committed = rendered !== source
      if (committed) {
        // The work tree is never written through a path from the repository (a symlinked
        // directory cannot redirect the write): the blob goes into an index, git writes the tree.
        const message = `${options.taskId}: mark completed\n`
        // the blob written in-process (no git process), by git when that fails
        const written = yield* Effect.promise(() =>
          GitRefs.writeLooseBlob(Path.join(dir, ".git"), rendered, tip.length)
        )
        const blob = written ?? (yield* gitOk(dir, ["hash-object", "-w", "--stdin"], { stdin: rendered })).trim()
        const cacheinfo = ["update-index", "--cacheinfo", `${file.value.mode},${blob},${path}`]
        const current = yield* currentBranch(dir)
        if (Option.isSome(current) && current.value === base) {
          // The base is checked out and clean (cleanState) at `tip`: its own index, one commit
          // (the same commit as below, in 3 processes fewer), then the work tree follows.
          yield* gitOk(dir, cacheinfo)
          yield* gitOk(dir, ["commit", "--quiet", "--no-verify", "--cleanup=verbatim", "--file=-"], { stdin: message })
          commit = yield* headCommit(dir)
          yield* gitOk(dir, ["reset", "--hard", "--quiet"])
        } else {
          // Another branch is checked out: plumbing on a private index, the work tree untouched.
          const tree = yield* Effect.acquireUseRelease(
            Effect.sync(() => Path.join(dir, ".git", `devteam-index-${randomBytes(6).toString("hex")}`)),
            (indexFile) =>
              Effect.gen(function*() {
                const env = { GIT_INDEX_FILE: indexFile }
                yield* gitOk(dir, ["read-tree", tip], { env })
                yield* gitOk(dir, cacheinfo, { env })
                return (yield* gitOk(dir, ["write-tree"], { env })).trim()
              }),
            (indexFile) => Effect.promise(() => Fs.rm(indexFile, { force: true }))
          )
          commit = (yield* gitOk(dir, ["commit-tree", tree, "-p", tip, "-F", "-"], { stdin: message })).trim()
          yield* gitOk(dir, ["update-ref", "-m", `${options.taskId}: mark completed`, fullRef(base), commit, tip])
        }
      }
      const pushed = yield* pushBase(dir, base, options.token)
      yield* touch(dir)
      yield* Effect.logInfo(
        committed ? `Workspace marked ${options.taskId} completed` : `Workspace: ${options.taskId} already marked`
      )
      return { committed, commit: pushed.pushedCommit, alreadyPushed: pushed.alreadyPushed, rebased: pushed.rebased }
    }))
  })

  return { readTaskList, markTaskCompleted }
}
