/**
 * The task branch lifecycle of the Workspace port: the repository cache (sync), a task branch
 * created from fresh `origin/<base>` (prepare), its commits and diff, its refresh onto a moved base,
 * its merge into the base branch and the push, and its published copy on the remote (publish,
 * ensure, pull) that another runner takes the work up from.
 *
 * Every operation runs under its work tree's lock, first clears what a crash may have left behind
 * and detects work already done, so a re-run after a crash is a no-op.
 */
import { branchName } from "@devteam/domain/Branch"
import { BadRequest, BranchNotFound, MergeConflict, PushRejected } from "@devteam/domain/Errors"
import { Effect, Option } from "effect"
import * as Path from "node:path"
import * as RepoUrl from "../RepoUrl.js"
import {
  type BranchOptions,
  type CommitOptions,
  type DiffOptions,
  type EnsureTaskBranchOptions,
  maxDiffChars,
  type MergeOptions,
  type PrepareOptions,
  type PublishBranchOptions,
  type PushOptions,
  type RefreshBranchOptions,
  type SyncOptions,
  type Workspace
} from "../Workspace.js"
import type { WorkspaceLocks } from "../WorkspaceLocks.js"
import { checkBranchName as checkBranch } from "./gitNames.js"
import { type EnsureRepoOptions, fullRef, type GitAuth, type GitPlumbing, remoteRef, tail } from "./gitPlumbing.js"

/** How recent a fetch of the shared cache PREP takes as its own (SELECT's, just before it). */
const recentFetchMs = 5_000

type Branches = Pick<
  Workspace["Type"],
  | "sync"
  | "prepare"
  | "commitAll"
  | "commitChanges"
  | "diffSummary"
  | "branchExists"
  | "refreshBranch"
  | "merge"
  | "push"
  | "publishBranch"
  | "ensureTaskBranch"
  | "pullTaskBranch"
>

export const make = (plumbing: GitPlumbing, locks: WorkspaceLocks["Type"]): Branches => {
  const {
    baseRefs,
    baseTip,
    checkRepoPath,
    cleanState,
    config,
    currentBranch,
    ensureLocalBase,
    ensureRepo: ensureRepoAlone,
    exists,
    failure,
    git,
    gitOk,
    headCommit,
    isAncestor,
    keyFor,
    originConfig,
    pushBase,
    redact,
    refsSnapshot,
    remoteDefaultBranch,
    remoteConfig,
    remoteFailure,
    revParse,
    sameAsRecentFetch,
    touch,
    workspaceDir
  } = plumbing
  // Under the lock, before any git: the git dir a sandbox could write is made trustworthy again.
  const withRepoLock = (key: string) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
    locks.withLock(Path.join(workspaceDir, key))(
      Effect.zipRight(plumbing.secureGitDir(Path.join(workspaceDir, key)), self)
    )

  /** The repository's shared cache (SELECT's): the work tree of no project. */
  const cacheDirOf = (repo: RepoUrl.RepoUrl) => Path.join(workspaceDir, keyFor(repo, undefined))
  // A project's work tree, when it has to be cloned (its first task, after a failover or a
  // clean-up), copies what the shared cache already holds instead of downloading the repository
  // a second time.
  const ensureRepo = (repo: RepoUrl.RepoUrl, dir: string, auth: GitAuth, options: EnsureRepoOptions = {}) => {
    const cacheDir = cacheDirOf(repo)
    return ensureRepoAlone(
      repo,
      dir,
      auth,
      cacheDir === dir ? options : { ...options, reference: { dir: cacheDir, hold: locks.withShared(cacheDir) } }
    )
  }

  const sync = Effect.fn("Workspace.sync")(function*(options: SyncOptions) {
    const repo = yield* RepoUrl.validate(options.repoUrl, { allowFile: config.allowFile })
    if (options.baseBranch !== undefined) yield* checkBranch(options.baseBranch, "baseBranch")
    const key = keyFor(repo, options.project)
    const dir = Path.join(workspaceDir, key)
    const auth = yield* remoteConfig(repo, options.token)
    return yield* withRepoLock(key)(Effect.gen(function*() {
      // sync only fetches and reads refs: the work tree's state does not matter to it
      const { cloned } = yield* ensureRepo(repo, dir, auth, { workTree: false })
      const base = options.baseBranch ?? (yield* remoteDefaultBranch(dir))
      const refs = yield* refsSnapshot(dir, [remoteRef(base)])
      const baseCommit = refs.get(remoteRef(base))
      if (baseCommit === undefined) {
        return yield* new BranchNotFound({
          message: `Base branch '${base}' does not exist on the remote`,
          branch: base
        })
      }
      yield* touch(dir)
      return { repoPath: dir, repoKey: key, baseBranch: base, baseCommit, cloned }
    }))
  })

  const prepare = Effect.fn("Workspace.prepare")(function*(options: PrepareOptions) {
    const repo = yield* RepoUrl.validate(options.repoUrl, { allowFile: config.allowFile })
    if (options.baseBranch !== undefined) yield* checkBranch(options.baseBranch, "baseBranch")
    const branch = branchName(options.taskId, options.title)
    const key = keyFor(repo, options.project)
    const dir = Path.join(workspaceDir, key)
    const auth = yield* remoteConfig(repo, options.token)
    return yield* withRepoLock(key)(Effect.gen(function*() {
      // SELECT fetched the repository's shared cache a moment ago (the fresh task list): when that
      // fetch saw the same base and task branch as this work tree has, fetching here would change
      // nothing PREP reads. Not with a project token (its fetch is how a refused token shows).
      const known = options.project !== undefined && options.baseBranch !== undefined &&
        options.token === undefined &&
        (yield* sameAsRecentFetch(
          dir,
          cacheDirOf(repo),
          [remoteRef(options.baseBranch), remoteRef(branch)],
          recentFetchMs
        ))
      const { cloned } = yield* ensureRepo(repo, dir, auth, { fetch: !known })
      const cached = !cloned
      const base = options.baseBranch ?? (yield* remoteDefaultBranch(dir))
      // One process for every ref this needs (each git spawn costs milliseconds).
      const refs = yield* refsSnapshot(dir, [remoteRef(base), fullRef(base), fullRef(branch), remoteRef(branch)])
      const baseCommit = refs.get(remoteRef(base))
      if (baseCommit === undefined) {
        return yield* new BranchNotFound({
          message: `Base branch '${base}' does not exist on the remote`,
          branch: base
        })
      }
      // Keep the local base in step with the remote when it is merely behind.
      const localBase = refs.get(fullRef(base))
      if (
        localBase !== undefined && localBase !== baseCommit && (yield* isAncestor(dir, localBase, baseCommit))
      ) {
        yield* gitOk(dir, ["update-ref", fullRef(base), baseCommit, localBase])
      }
      const local = refs.get(fullRef(branch))
      const remoteBranch = refs.get(remoteRef(branch))
      let branchCreated = false
      let head: string
      if (local !== undefined) {
        yield* gitOk(dir, ["checkout", "--quiet", "--force", branch, "--"])
        head = local
      } else if (remoteBranch !== undefined) {
        yield* gitOk(dir, ["checkout", "--quiet", "--force", "-b", branch, "--track", `origin/${branch}`, "--"])
        head = remoteBranch
      } else {
        yield* gitOk(dir, ["checkout", "--quiet", "--force", "--no-track", "-b", branch, remoteRef(base), "--"])
        branchCreated = true
        head = baseCommit
      }
      yield* touch(dir)
      yield* Effect.logInfo(`Workspace prepared ${branch}`).pipe(
        Effect.annotateLogs({ cloned: !cached, branchCreated })
      )
      return {
        repoPath: dir,
        repoKey: key,
        branch,
        baseBranch: base,
        baseCommit,
        head,
        cloned: !cached,
        branchCreated
      }
    }))
  })

  // --- diff / commit ------------------------------------------------------------------------

  /** Files, lines and the diff of `branch` against the base (two git processes: the refs, the diff). */
  const diffAgainstBase = (dir: string, branch: string, base: string) =>
    Effect.gen(function*() {
      const refs = yield* baseRefs(dir, base, [fullRef(branch)])
      const head = refs.get(fullRef(branch))
      if (head === undefined) {
        return yield* new BranchNotFound({ message: `Branch '${branch}' does not exist`, branch })
      }
      const baseRev = yield* baseTip(dir, base, refs)
      // --numstat -z then the patch, in one process: the NUL-terminated numstat records end with
      // an empty one (a path is never empty)
      const out = yield* gitOk(dir, [
        "diff",
        "--numstat",
        "-z",
        "--patch",
        "--no-color",
        "--no-renames",
        "--no-ext-diff",
        "--no-textconv",
        `${baseRev}...${head}`,
        "--"
      ])
      const end = out.indexOf("\0\0")
      const numstat = end < 0 ? out : out.slice(0, end + 1)
      const full = end < 0 ? "" : out.slice(end + 2)
      const filesModified: Array<string> = []
      let linesChanged = 0
      for (const entry of numstat.split("\0")) {
        const match = /^(-|\d+)\t(-|\d+)\t(.*)$/s.exec(entry)
        if (match === null) continue
        const [, added = "-", deleted = "-", file = ""] = match
        filesModified.push(file)
        linesChanged += (added === "-" ? 0 : Number(added)) + (deleted === "-" ? 0 : Number(deleted))
      }
      const diffTruncated = full.length > maxDiffChars
      return {
        head,
        filesModified,
        linesChanged,
        diff: redact(diffTruncated ? full.slice(0, maxDiffChars) : full),
        diffTruncated
      }
    })

  const diffSummary = Effect.fn("Workspace.diffSummary")(function*(options: DiffOptions) {
    const { dir, key } = yield* checkRepoPath(options.repoPath)
    yield* checkBranch(options.branch, "branch")
    yield* checkBranch(options.baseBranch, "baseBranch")
    return yield* withRepoLock(key)(
      Effect.map(diffAgainstBase(dir, options.branch, options.baseBranch), ({ head: _, ...summary }) => summary)
    )
  })

  /** Stages everything and commits it on the task branch, under the lock; whether a commit was made. */
  const stageAndCommit = (dir: string, options: CommitOptions) =>
    Effect.gen(function*() {
      const current = yield* currentBranch(dir)
      if (Option.isNone(current) || current.value !== options.branch) {
        if (Option.isNone(yield* revParse(dir, fullRef(options.branch)))) {
          return yield* new BranchNotFound({
            message: `Branch '${options.branch}' does not exist`,
            branch: options.branch
          })
        }
        // Carries uncommitted changes over; refuses (exit ≠ 0) rather than lose any.
        yield* gitOk(dir, ["checkout", "--quiet", options.branch, "--"])
      }
      yield* gitOk(dir, ["add", "--all", "--", "."])
      const message = options.message.replaceAll("\0", "").slice(0, 64 * 1024)
      const made = yield* git(dir, ["commit", "--quiet", "--no-verify", "--cleanup=whitespace", "--file=-"], {
        stdin: message.trim().length > 0 ? message : "update"
      })
      // Commit first, ask why only when it refuses (one process fewer when there is a change):
      // nothing staged is "nothing to commit", anything else is the commit's failure.
      if (made.exitCode === 0) return true
      const staged = yield* git(dir, ["diff", "--cached", "--quiet", "--no-ext-diff"])
      if (staged.exitCode > 1) return yield* failure("diff", staged)
      if (staged.exitCode === 1) return yield* failure("commit", made)
      return false
    })

  const checkCommit = (options: CommitOptions) =>
    Effect.gen(function*() {
      const checked = yield* checkRepoPath(options.repoPath)
      yield* checkBranch(options.branch, "branch")
      yield* checkBranch(options.baseBranch, "baseBranch")
      if (options.branch === options.baseBranch) {
        return yield* new BadRequest({ message: "commitAll commits on a task branch, never on the base branch" })
      }
      return checked
    })

  const commitAll = Effect.fn("Workspace.commitAll")(function*(options: CommitOptions) {
    const { dir, key } = yield* checkCommit(options)
    return yield* withRepoLock(key)(Effect.gen(function*() {
      const committed = yield* stageAndCommit(dir, options)
      // the branch is checked out: its head is the commit
      const { head: commit, ...summary } = yield* diffAgainstBase(dir, options.branch, options.baseBranch)
      yield* touch(dir)
      yield* Effect.logInfo(committed ? `Workspace committed ${commit}` : "Workspace: nothing to commit")
      return { committed, commit, ...summary }
    }))
  })

  const commitChanges = Effect.fn("Workspace.commitChanges")(function*(options: CommitOptions) {
    const { dir, key } = yield* checkCommit(options)
    return yield* withRepoLock(key)(Effect.gen(function*() {
      const committed = yield* stageAndCommit(dir, options)
      // the branch is checked out: its head is the commit
      const commit = yield* headCommit(dir)
      yield* touch(dir)
      yield* Effect.logInfo(committed ? `Workspace committed ${commit}` : "Workspace: nothing to commit")
      return { committed, commit }
    }))
  })

  const branchExists = Effect.fn("Workspace.branchExists")(function*(options: BranchOptions) {
    const { dir, key } = yield* checkRepoPath(options.repoPath)
    yield* checkBranch(options.branch, "branch")
    return yield* withRepoLock(key)(Effect.gen(function*() {
      if (Option.isSome(yield* revParse(dir, fullRef(options.branch)))) return true
      return Option.isSome(yield* revParse(dir, remoteRef(options.branch)))
    }))
  })

  // --- merge --------------------------------------------------------------------------------

  const refreshBranch = Effect.fn("Workspace.refreshBranch")(function*(options: RefreshBranchOptions) {
    const repo = yield* RepoUrl.validate(options.repoUrl, { allowFile: config.allowFile })
    yield* checkBranch(options.branch, "branch")
    yield* checkBranch(options.baseBranch, "baseBranch")
    const key = keyFor(repo, options.project)
    const dir = Path.join(workspaceDir, key)
    const auth = yield* remoteConfig(repo, options.token)
    const { baseBranch: base, branch } = options
    return yield* withRepoLock(key)(Effect.gen(function*() {
      yield* ensureRepo(repo, dir, auth)
      const refs = yield* refsSnapshot(dir, [remoteRef(base), fullRef(branch)])
      const baseCommit = Option.fromNullable(refs.get(remoteRef(base)))
      if (Option.isNone(baseCommit)) {
        return yield* new BranchNotFound({
          message: `Base branch '${base}' does not exist on the remote`,
          branch: base
        })
      }
      const tip = Option.fromNullable(refs.get(fullRef(branch)))
      if (Option.isNone(tip)) {
        return yield* new BranchNotFound({ message: `Branch '${branch}' does not exist`, branch })
      }
      yield* gitOk(dir, ["checkout", "--quiet", "--force", branch, "--"])
      if (yield* isAncestor(dir, baseCommit.value, tip.value)) {
        yield* touch(dir)
        return { head: tip.value, updated: false }
      }
      // Rebasing keeps one --no-ff merge per task on the base; the published copy of the task
      // branch is then force-updated by publishBranch.
      const r = yield* git(dir, ["rebase", "--no-autostash", remoteRef(base)])
      if (r.exitCode !== 0) {
        const unmerged = yield* git(dir, ["diff", "--name-only", "--diff-filter=U", "-z"])
        const files = unmerged.stdout.split("\0").filter((f) => f.length > 0)
        yield* git(dir, ["rebase", "--abort"])
        yield* cleanState(dir)
        if (files.length > 0 || /conflict/i.test(r.stdout + r.stderr)) {
          return yield* new MergeConflict({
            message: redact(
              `Bringing '${base}' into '${branch}' conflicts in ${files.length} file(s): ${files.join(", ")}. ` +
                "The work tree was left clean; resolve the conflict on the task branch and retry."
            ),
            branch,
            files
          })
        }
        return yield* failure("refresh branch", r)
      }
      const head = yield* headCommit(dir)
      yield* touch(dir)
      yield* Effect.logInfo(`Workspace rebased ${branch} onto ${base}`)
      return { head, updated: true }
    }))
  })

  const merge = Effect.fn("Workspace.merge")(function*(options: MergeOptions) {
    const { dir, key } = yield* checkRepoPath(options.repoPath)
    yield* checkBranch(options.branch, "branch")
    yield* checkBranch(options.baseBranch, "baseBranch")
    const { baseBranch: base, branch } = options
    return yield* withRepoLock(key)(Effect.gen(function*() {
      yield* cleanState(dir)
      const refs = yield* baseRefs(dir, base, [fullRef(branch)])
      const tip = Option.fromNullable(refs.get(fullRef(branch)))
      if (Option.isNone(tip)) {
        return yield* new BranchNotFound({ message: `Branch '${branch}' does not exist`, branch })
      }
      const baseHead = yield* ensureLocalBase(dir, base, refs)
      const current = yield* currentBranch(dir)
      if (Option.isNone(current) || current.value !== base) {
        yield* gitOk(dir, ["checkout", "--quiet", "--force", base, "--"])
      }
      if (yield* isAncestor(dir, tip.value, baseHead)) {
        yield* touch(dir)
        return { mergeCommit: baseHead, alreadyMerged: true }
      }
      const message = (options.message ?? `Merge branch '${branch}' into ${base}`).replaceAll("\0", "")
      const r = yield* git(dir, ["merge", "--no-ff", "--no-edit", "--no-verify", "-m", message, fullRef(branch)])
      if (r.exitCode !== 0) {
        const unmerged = yield* git(dir, ["diff", "--name-only", "--diff-filter=U", "-z"])
        const files = unmerged.stdout.split("\0").filter((f) => f.length > 0)
        yield* git(dir, ["merge", "--abort"])
        yield* cleanState(dir)
        if (files.length > 0 || /conflict/i.test(r.stdout + r.stderr)) {
          return yield* new MergeConflict({
            message: redact(
              `Merging '${branch}' into '${base}' conflicts in ${files.length} file(s): ${files.join(", ")}. ` +
                "The work tree was left clean; resolve the conflict on the task branch and retry."
            ),
            branch,
            files
          })
        }
        return yield* failure("merge", r)
      }
      const mergeCommit = yield* headCommit(dir)
      yield* touch(dir)
      yield* Effect.logInfo(`Workspace merged ${branch} into ${base}`)
      return { mergeCommit, alreadyMerged: false }
    }))
  })

  // --- push ---------------------------------------------------------------------------------

  const push = Effect.fn("Workspace.push")(function*(options: PushOptions) {
    const { dir, key } = yield* checkRepoPath(options.repoPath)
    yield* checkBranch(options.baseBranch, "baseBranch")
    return yield* withRepoLock(key)(Effect.gen(function*() {
      // a push reads refs only: the work tree is cleaned where it is used (pushBase's rebase)
      yield* cleanState(dir, { workTree: false })
      const result = yield* pushBase(dir, options.baseBranch, options.token)
      yield* touch(dir)
      yield* Effect.logInfo(
        result.alreadyPushed
          ? `Workspace: ${options.baseBranch} already pushed`
          : `Workspace pushed ${result.pushedCommit}`
      )
      return result
    }))
  })

  // --- task branches on the remote -------------------------------------------------------

  const publishBranch = Effect.fn("Workspace.publishBranch")(function*(options: PublishBranchOptions) {
    const { dir, key } = yield* checkRepoPath(options.repoPath)
    yield* checkBranch(options.branch, "branch")
    const { branch } = options
    return yield* withRepoLock(key)(Effect.gen(function*() {
      const refs = yield* refsSnapshot(dir, [fullRef(branch), remoteRef(branch)])
      const local = Option.fromNullable(refs.get(fullRef(branch)))
      if (Option.isNone(local)) {
        return yield* new BranchNotFound({ message: `Branch '${branch}' does not exist`, branch })
      }
      // a push updates the remote-tracking ref too: equal means this very commit was published
      const published = Option.fromNullable(refs.get(remoteRef(branch)))
      if (Option.isSome(published) && published.value === local.value) {
        return { commit: local.value, alreadyPublished: true }
      }
      const auth = yield* originConfig(dir, options.token)
      const r = yield* git(dir, [
        "push",
        "--porcelain",
        "--no-verify",
        "--force",
        "origin",
        `${fullRef(branch)}:${fullRef(branch)}`
      ], { config: auth })
      if (r.exitCode !== 0) {
        if (/\[remote rejected\]/.test(r.stdout + r.stderr)) {
          return yield* new PushRejected({
            message: redact(`The remote refused the task branch '${branch}': ${tail(r.stdout + "\n" + r.stderr)}`),
            branch
          })
        }
        return yield* remoteFailure("push", r)
      }
      yield* touch(dir)
      yield* Effect.logInfo(`Workspace published ${branch} at ${local.value}`)
      return { commit: local.value, alreadyPublished: false }
    }))
  })

  const ensureTaskBranch = Effect.fn("Workspace.ensureTaskBranch")(function*(options: EnsureTaskBranchOptions) {
    const repo = yield* RepoUrl.validate(options.repoUrl, { allowFile: config.allowFile })
    yield* checkBranch(options.branch, "branch")
    const key = keyFor(repo, options.project)
    const dir = Path.join(workspaceDir, key)
    const { branch } = options
    return yield* withRepoLock(key)(Effect.gen(function*() {
      if (yield* exists(Path.join(dir, ".git", "HEAD"))) {
        const local = yield* revParse(dir, fullRef(branch))
        if (Option.isSome(local)) return { repoPath: dir, head: local.value, restored: false }
      }
      yield* ensureRepo(repo, dir, yield* remoteConfig(repo, options.token))
      const published = yield* revParse(dir, remoteRef(branch))
      if (Option.isNone(published)) {
        return yield* new BranchNotFound({
          message: `Task branch '${branch}' is neither in this runner's workspace nor on the remote`,
          branch
        })
      }
      yield* gitOk(dir, ["checkout", "--quiet", "--force", "-B", branch, remoteRef(branch), "--"])
      yield* touch(dir)
      yield* Effect.logInfo(`Workspace restored ${branch} from the remote at ${published.value}`)
      return { repoPath: dir, head: published.value, restored: true }
    }))
  })

  const pullTaskBranch = Effect.fn("Workspace.pullTaskBranch")(function*(options: EnsureTaskBranchOptions) {
    const repo = yield* RepoUrl.validate(options.repoUrl, { allowFile: config.allowFile })
    yield* checkBranch(options.branch, "branch")
    const key = keyFor(repo, options.project)
    const dir = Path.join(workspaceDir, key)
    const { branch } = options
    const auth = yield* remoteConfig(repo, options.token)
    return yield* withRepoLock(key)(Effect.gen(function*() {
      yield* ensureRepo(repo, dir, auth)
      const refs = yield* refsSnapshot(dir, [fullRef(branch), remoteRef(branch)])
      const local = refs.get(fullRef(branch))
      const published = refs.get(remoteRef(branch))
      if (published === undefined) {
        if (local !== undefined) return { head: local, pulled: false }
        return yield* new BranchNotFound({
          message: `Task branch '${branch}' is neither in this runner's workspace nor on the remote`,
          branch
        })
      }
      if (local !== undefined && (local === published || (yield* isAncestor(dir, published, local)))) {
        return { head: local, pulled: false }
      }
      yield* gitOk(dir, ["checkout", "--quiet", "--force", "-B", branch, remoteRef(branch), "--"])
      yield* touch(dir)
      yield* Effect.logInfo(`Workspace took ${branch} from the remote at ${published}`)
      return { head: published, pulled: true }
    }))
  })

  return {
    sync,
    prepare,
    commitAll,
    commitChanges,
    diffSummary,
    branchExists,
    refreshBranch,
    merge,
    push,
    publishBranch,
    ensureTaskBranch,
    pullTaskBranch
  }
}
