/**
 * The git workspace port: a repository cache under WORKSPACE_DIR (one work tree per remote, keyed by
 * a hash of the normalised URL), task branches, commits, merges, pushes and task-list updates.
 *
 * - Every operation on one repository runs under that repository's lock, so two operations never
 *   touch one work tree at once; every operation first clears what a crash may have left behind
 *   (an in-progress merge or rebase, a stale index.lock, uncommitted leftovers) and detects work
 *   already done, so a re-run after a crash is a no-op.
 * - Credentials (the one configured for the remote's host — GitCredentials — or a per-call token)
 *   reach git only for the commands that talk to that remote, as an `http.<scheme://host/>.extraHeader`
 *   passed through GIT_CONFIG_COUNT/KEY/VALUE environment variables: never on the command line, in
 *   `.git/config`, the remote URL or a log line, never to a host they are not configured for, and
 *   never across a redirect (git follows none). Every message this module produces goes through the
 *   Redactor.
 * - git runs without a shell, with hooks, credential helpers, fsmonitor and signing disabled, the
 *   user's global/system configuration ignored, transports restricted (GIT_ALLOW_PROTOCOL) and a
 *   timeout; a request's values only reach git after validation, after `--` or inside `<rev>:<path>`.
 */
import { branchName } from "@devteam/domain/Branch"
import {
  BadRequest,
  BranchNotFound,
  GitOperationFailed,
  type InvalidRepoUrl,
  MergeConflict,
  PushRejected,
  RepositoryAccessDenied,
  TaskNotFound
} from "@devteam/domain/Errors"
import type { TaskId } from "@devteam/domain/Ids"
import { Config, type ConfigError, Context, Duration, Effect, Either, Layer, Option, Redacted } from "effect"
import { createHash, randomBytes } from "node:crypto"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import * as GitCredentials from "./GitCredentials.js"
import { checkBranchName, checkRepoFilePath } from "./internal/gitNames.js"
import { type GitResult, runGit } from "./internal/gitProcess.js"
import * as Redaction from "./Redaction.js"
import * as RepoUrl from "./RepoUrl.js"

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

export interface WorkspaceConfig {
  /** Absolute root of the repository cache. */
  readonly workspaceDir: string
  /** Allow `file://` URLs and absolute local paths as repoUrl (tests, local development). */
  readonly allowFile: boolean
  /** User name sent with a per-call token; `x-access-token` when unset. */
  readonly gitUsername: Option.Option<string>
  /** The credential of each configured http(s) host (GIT_TOKEN + GIT_HOSTS, GIT_CREDENTIALS). */
  readonly credentials: ReadonlyArray<GitCredentials.GitCredential>
  readonly authorName: string
  readonly authorEmail: string
  /** Longest a single git command may run (clone/fetch/push of a large repository included). */
  readonly commandTimeout: Duration.Duration
}

/** WORKSPACE_DIR (default `$DATA_DIR/workspaces`, DATA_DIR default `./.data`), REPO_ALLOW_FILE, GIT_* (see GitCredentials). */
export const WorkspaceConfig: Config.Config<WorkspaceConfig> = Config.all({
  dataDir: Config.string("DATA_DIR").pipe(
    Config.withDefault("./.data"),
    Config.withDescription("Root of the service's local data (embedded database, workspaces)")
  ),
  workspaceDir: Config.option(
    Config.string("WORKSPACE_DIR").pipe(Config.withDescription("Repository cache and work trees"))
  ),
  allowFile: Config.boolean("REPO_ALLOW_FILE").pipe(
    Config.withDefault(false),
    Config.withDescription("Allow file:// URLs and local paths as repoUrl (tests only)")
  ),
  gitUsername: Config.option(
    Config.string("GIT_USERNAME").pipe(Config.withDescription("User name for http(s) remotes"))
  ),
  credentials: GitCredentials.CredentialsConfig,
  authorName: Config.string("GIT_AUTHOR_NAME").pipe(
    Config.withDefault("DevTeam Runner"),
    Config.withDescription("Author and committer name of every commit the runner makes")
  ),
  authorEmail: Config.string("GIT_AUTHOR_EMAIL").pipe(
    Config.withDefault("devteam-runner@localhost"),
    Config.withDescription("Author and committer e-mail of every commit the runner makes")
  )
}).pipe(
  Config.map(({ dataDir, workspaceDir, ...rest }): WorkspaceConfig => ({
    ...rest,
    workspaceDir: Path.resolve(Option.getOrElse(workspaceDir, () => Path.join(dataDir, "workspaces"))),
    commandTimeout: Duration.minutes(10)
  }))
)

// ---------------------------------------------------------------------------------------------
// API
// ---------------------------------------------------------------------------------------------

export interface PrepareOptions {
  readonly repoUrl: string
  /**
   * The project whose work tree this is: each project gets its own (two projects on one
   * repository must not check branches out under each other's running tool). Without it, the
   * repository's shared cache (reads only: task lists, validation).
   */
  readonly project?: string | undefined
  /** Default: the remote's default branch. */
  readonly baseBranch?: string | undefined
  readonly taskId: TaskId
  readonly title: string
  /** A per-project token; GIT_TOKEN otherwise. */
  readonly token?: Redacted.Redacted<string> | undefined
}

export interface SyncOptions {
  readonly repoUrl: string
  /**
   * The project whose work tree this is: each project gets its own (two projects on one
   * repository must not check branches out under each other's running tool). Without it, the
   * repository's shared cache (reads only: task lists, validation).
   */
  readonly project?: string | undefined
  /** Defaults to the remote's default branch. */
  readonly baseBranch?: string | undefined
  readonly token?: Redacted.Redacted<string> | undefined
}

export interface SyncResult {
  readonly repoPath: string
  readonly repoKey: string
  readonly baseBranch: string
  /** `origin/<baseBranch>` after the fetch. */
  readonly baseCommit: string
  readonly cloned: boolean
}

export interface RefreshBranchOptions {
  readonly repoUrl: string
  /**
   * The project whose work tree this is: each project gets its own (two projects on one
   * repository must not check branches out under each other's running tool). Without it, the
   * repository's shared cache (reads only: task lists, validation).
   */
  readonly project?: string | undefined
  readonly branch: string
  readonly baseBranch: string
  readonly token?: Redacted.Redacted<string> | undefined
}

export interface RefreshBranchResult {
  /** The task branch's head after the refresh. */
  readonly head: string
  /** True when the remote base had moved and the task branch was rebased onto it. */
  readonly updated: boolean
}

export interface PrepareResult {
  /** The work tree (`<WORKSPACE_DIR>/<repoKey>`), checked out on `branch`. */
  readonly repoPath: string
  readonly repoKey: string
  readonly branch: string
  readonly baseBranch: string
  /** `origin/<baseBranch>` after the fetch. */
  readonly baseCommit: string
  /** The task branch's head. */
  readonly head: string
  readonly cloned: boolean
  readonly branchCreated: boolean
}

export interface PublishBranchOptions {
  readonly repoPath: string
  readonly branch: string
  readonly token?: Redacted.Redacted<string> | undefined
}

export interface PublishBranchResult {
  /** The task branch head, now on the remote. */
  readonly commit: string
  readonly alreadyPublished: boolean
}

export interface EnsureTaskBranchOptions {
  readonly repoUrl: string
  /**
   * The project whose work tree this is: each project gets its own (two projects on one
   * repository must not check branches out under each other's running tool). Without it, the
   * repository's shared cache (reads only: task lists, validation).
   */
  readonly project?: string | undefined
  readonly branch: string
  readonly token?: Redacted.Redacted<string> | undefined
}

export interface PullTaskBranchResult {
  /** The task branch's head afterwards. */
  readonly head: string
  /** True when the remote's copy had commits this workspace lacked and the branch moved to it. */
  readonly pulled: boolean
}

export interface EnsureTaskBranchResult {
  readonly repoPath: string
  readonly head: string
  /** True when this workspace did not have the branch and took the remote's published copy. */
  readonly restored: boolean
}

export interface BranchOptions {
  readonly repoPath: string
  readonly branch: string
}

export interface DiffOptions {
  readonly repoPath: string
  readonly branch: string
  readonly baseBranch: string
}

export interface DiffSummary {
  /** Paths changed on the branch since it left the base branch. */
  readonly filesModified: ReadonlyArray<string>
  /** Lines added plus lines deleted. */
  readonly linesChanged: number
  /** The unified diff (redacted), cut at `maxDiffChars`. */
  readonly diff: string
  readonly diffTruncated: boolean
}

export interface CommitOptions extends DiffOptions {
  readonly message: string
}

export interface CommitResult extends DiffSummary {
  /** False when nothing had changed (including a re-run after the commit was made). */
  readonly committed: boolean
  /** The branch head after the operation. */
  readonly commit: string
}

export interface MergeOptions {
  readonly repoPath: string
  readonly branch: string
  readonly baseBranch: string
  readonly message?: string | undefined
}

export interface MergeResult {
  /** The base branch head after the merge. */
  readonly mergeCommit: string
  readonly alreadyMerged: boolean
}

export interface PushOptions {
  readonly repoPath: string
  readonly baseBranch: string
  readonly token?: Redacted.Redacted<string> | undefined
}

export interface PushResult {
  readonly pushedCommit: string
  readonly alreadyPushed: boolean
  /** True when the first push was rejected and the base branch was rebased onto the remote. */
  readonly rebased: boolean
}

export interface ReadTaskListOptions {
  readonly repoPath: string
  readonly baseBranch: string
  readonly path: string
}

export interface MarkTaskCompletedOptions extends ReadTaskListOptions {
  readonly taskId: TaskId
  /**
   * Renders the task list with `taskId` completed: the new text, the same text when the task is
   * already completed, or null when the task is not in the list (→ TaskNotFound).
   */
  readonly render: (source: string) => string | null
  readonly token?: Redacted.Redacted<string> | undefined
}

export interface MarkTaskCompletedResult {
  readonly committed: boolean
  /** The base branch head (the "<id>: mark completed" commit when one was made). */
  readonly commit: string
  readonly alreadyPushed: boolean
}

export interface ValidateOptions {
  readonly repoUrl: string
  readonly baseBranch?: string | undefined
  readonly taskListPath?: string | undefined
  readonly token?: Redacted.Redacted<string> | undefined
}

export interface ValidateResult {
  readonly reachable: boolean
  /** The remote refused the credentials or does not know the repository. */
  readonly accessDenied: boolean
  /** Why the repository is not reachable or the base branch is missing (redacted). */
  readonly message?: string
  readonly defaultBranch: string | null
  /** The branch the task list was looked up on: the one asked for, else the default branch. */
  readonly baseBranch: string | null
  readonly baseBranchExists: boolean
  readonly taskList: {
    readonly found: boolean
    readonly path: string
    /** The file's text, for the caller to parse. */
    readonly text?: string
  }
}

export interface CleanupOptions {
  readonly olderThan: Duration.DurationInput
  /** Cache keys (`RepoUrl.parse(...).key` / `PrepareResult.repoKey`) of workspaces in use by an active execution. */
  readonly activeRepoKeys: Iterable<string>
  /** Only these work trees (a deleted project's); every other entry is left alone. */
  readonly only?: Iterable<string> | undefined
}

export interface CleanupResult {
  readonly removed: ReadonlyArray<string>
  readonly kept: ReadonlyArray<string>
}

export const defaultTaskListPath = "docs/DevTeam/tasks_list.md"

/** Longest diff text returned in an artifact. */
export const maxDiffChars = 1024 * 1024

/** Longest task list read. */
export const maxTaskListBytes = 4 * 1024 * 1024

type RemoteError = RepositoryAccessDenied | GitOperationFailed

export class Workspace extends Context.Tag("@devteam/runtime/Workspace")<Workspace, {
  readonly config: WorkspaceConfig
  /** Clone or fetch the repository cache (no checkout): for reading the task list. */
  readonly sync: (
    options: SyncOptions
  ) => Effect.Effect<SyncResult, InvalidRepoUrl | BadRequest | BranchNotFound | RemoteError>
  /** Clone or fetch, then check out the task branch (created from fresh `origin/<base>`, or reused). */
  readonly prepare: (
    options: PrepareOptions
  ) => Effect.Effect<PrepareResult, InvalidRepoUrl | BadRequest | BranchNotFound | RemoteError>
  /** Stages everything and commits it on `branch`; nothing when nothing changed. Diff is vs the base. */
  readonly commitAll: (
    options: CommitOptions
  ) => Effect.Effect<CommitResult, BadRequest | BranchNotFound | GitOperationFailed>
  readonly diffSummary: (
    options: DiffOptions
  ) => Effect.Effect<DiffSummary, BadRequest | BranchNotFound | GitOperationFailed>
  /** Whether the branch exists locally or on the remote (as last fetched). */
  readonly branchExists: (options: BranchOptions) => Effect.Effect<boolean, BadRequest | GitOperationFailed>
  /**
   * Fetches and, when the remote base moved past the task branch's fork point, rebases the task
   * branch onto it (so a fix pushed to the base while a task FAILED is seen on resume). Conflict →
   * MergeConflict with the tree left clean.
   */
  readonly refreshBranch: (
    options: RefreshBranchOptions
  ) => Effect.Effect<RefreshBranchResult, InvalidRepoUrl | BadRequest | BranchNotFound | MergeConflict | RemoteError>
  /** `merge --no-ff` of the task branch into the local base branch; on conflict the tree is left clean. */
  readonly merge: (
    options: MergeOptions
  ) => Effect.Effect<MergeResult, BadRequest | BranchNotFound | MergeConflict | GitOperationFailed>
  /**
   * Pushes the task branch (forced: task branches are the runner's own, and a refresh rebases
   * them). The published copy is what another runner picks the task's work up from after a
   * failover between IMPLEMENT and PUSH.
   */
  readonly publishBranch: (
    options: PublishBranchOptions
  ) => Effect.Effect<PublishBranchResult, BadRequest | BranchNotFound | PushRejected | RemoteError>
  /**
   * The task branch in this runner's workspace: as it is when present, else (a failover to this
   * runner) cloned/fetched and checked out from the remote's published copy; BranchNotFound when
   * it is on neither.
   */
  readonly ensureTaskBranch: (
    options: EnsureTaskBranchOptions
  ) => Effect.Effect<EnsureTaskBranchResult, InvalidRepoUrl | BadRequest | BranchNotFound | RemoteError>
  /**
   * Fetches and, when the remote's task branch has commits this workspace lacks (a fix someone
   * pushed to the task branch while the task FAILED), checks the task branch out at the remote's
   * copy: the remote wins over the stale local one. A local branch at or ahead of the remote's
   * (work not yet published) is kept. BranchNotFound when it is on neither.
   */
  readonly pullTaskBranch: (
    options: EnsureTaskBranchOptions
  ) => Effect.Effect<PullTaskBranchResult, InvalidRepoUrl | BadRequest | BranchNotFound | RemoteError>
  /** Pushes the base branch; on a non-fast-forward: fetch, rebase once, retry, then PushRejected. */
  readonly push: (
    options: PushOptions
  ) => Effect.Effect<PushResult, BadRequest | BranchNotFound | PushRejected | RemoteError>
  /** The task list's text on the base branch (not the work tree); None when the file does not exist. */
  readonly readTaskList: (
    options: ReadTaskListOptions
  ) => Effect.Effect<Option.Option<string>, BadRequest | BranchNotFound | GitOperationFailed>
  /** Commits "<id>: mark completed" on the base branch and pushes it; idempotent. */
  readonly markTaskCompleted: (
    options: MarkTaskCompletedOptions
  ) => Effect.Effect<MarkTaskCompletedResult, BadRequest | BranchNotFound | TaskNotFound | PushRejected | RemoteError>
  /**
   * The remote's default branch (its HEAD), for an execution that names no base branch; None when
   * the remote cannot be asked (unreachable, empty): the caller falls back to `main`.
   */
  readonly defaultBranch: (
    options: { readonly repoUrl: string; readonly token?: Redacted.Redacted<string> | undefined }
  ) => Effect.Effect<Option.Option<string>, InvalidRepoUrl>
  /** Reachability, default branch and task list of a repository; writes nothing anywhere but a temp dir. */
  readonly validate: (
    options: ValidateOptions
  ) => Effect.Effect<ValidateResult, InvalidRepoUrl | BadRequest | GitOperationFailed>
  /** Removes workspaces unused for `olderThan` that are not active (and not locked right now). */
  readonly cleanup: (options: CleanupOptions) => Effect.Effect<CleanupResult, GitOperationFailed>
  /** The directory name of a repository's work tree (per project, or the shared cache); for `cleanup`'s active set. */
  readonly repoKey: (repoUrl: string, project?: string) => Effect.Effect<string, InvalidRepoUrl>
}>() {}

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

/** git's verdict lines: kept even when they are not among the last lines (a non-bare remote's refusal). */
const keyLine = /\b(?:error|fatal|refusing|rejected|denied)\b/i

/** The last lines of git's output, plus its error lines wherever they are, in order. */
const tail = (text: string): string => {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0)
  const last = lines.length - 8
  return lines.filter((line, i) => i >= last || keyLine.test(line)).slice(-16).join(" | ").slice(-2000)
}

const accessDeniedPattern =
  /authentication failed|could not read (?:username|password)|terminal prompts disabled|returned error: 40[134]|\b40[13] (?:unauthorized|forbidden)|permission denied|repository .* not found|access denied|does not appear to be a git repository|no such file or directory|not a git repository/i

const nonFastForwardPattern = /\[rejected\]|non-fast-forward|fetch first|\(stale info\)/i

/** Lock files git writes at the top of `.git` (ref locks are found under `.git/refs`). */
const staleLockFiles = [
  "index.lock",
  "HEAD.lock",
  "ORIG_HEAD.lock",
  "FETCH_HEAD.lock",
  "packed-refs.lock",
  "config.lock",
  "shallow.lock"
]

const fullRef = (branch: string) => `refs/heads/${branch}`
const remoteRef = (branch: string) => `refs/remotes/origin/${branch}`

/**
 * One lock per work tree directory for the whole process, shared by every Workspace instance built
 * over the same WORKSPACE_DIR. Kept for the life of the process (one small semaphore per repository):
 * dropping one while a fiber waits on it would let two operations in at once.
 */
const repositoryLocks = new Map<string, Effect.Semaphore>()

export const make = (config: WorkspaceConfig): Effect.Effect<Workspace["Type"], never, Redaction.Redactor> =>
  Effect.gen(function*() {
    const redactor = yield* Redaction.Redactor
    const redact = redactor.redact
    const workspaceDir = Path.resolve(config.workspaceDir)
    const allowProtocols = ["https", "http", "ssh", "git", ...(config.allowFile ? ["file"] : [])]
    for (const credential of config.credentials) yield* redactor.register(credential.token)

    // --- process helpers --------------------------------------------------------------------

    interface RunOptions {
      readonly config?: ReadonlyArray<readonly [string, string]>
      readonly env?: Readonly<Record<string, string>>
      readonly stdin?: string
    }

    const git = (cwd: string, args: ReadonlyArray<string>, options: RunOptions = {}) =>
      runGit({
        cwd,
        args,
        timeout: config.commandTimeout,
        allowProtocols,
        author: { name: config.authorName, email: config.authorEmail },
        ...options
      }).pipe(
        Effect.mapError((e) => new GitOperationFailed({ operation: args[0] ?? "git", message: redact(e.detail) })),
        Effect.tap((r) =>
          Effect.logDebug(redact(`git ${args[0] ?? ""} exited ${r.exitCode}`)).pipe(
            Effect.annotateLogs({ gitArgs: redact(args.slice(0, 6).join(" ")) })
          )
        )
      )

    const failure = (operation: string, r: GitResult) =>
      new GitOperationFailed({
        operation,
        message: redact(
          `git ${operation} failed (exit ${r.exitCode}): ${tail(r.stderr.length > 0 ? r.stderr : r.stdout)}`
        )
      })

    const remoteFailure = (operation: string, r: GitResult): RemoteError => {
      const text = `${r.stderr}\n${r.stdout}`
      if (accessDeniedPattern.test(text)) {
        return new RepositoryAccessDenied({
          message: redact(
            `The remote refused access or does not have this repository (git ${operation}): ${
              tail(r.stderr)
            }. Check the repoUrl and the credentials (GIT_USERNAME/GIT_TOKEN or the project token).`
          )
        })
      }
      return failure(operation, r)
    }

    /** Runs and requires exit 0; returns stdout. */
    const gitOk = (cwd: string, args: ReadonlyArray<string>, options: RunOptions = {}) =>
      Effect.flatMap(
        git(cwd, args, options),
        (r) => r.exitCode === 0 ? Effect.succeed(r.stdout) : Effect.fail(failure(args[0] ?? "git", r))
      )

    const fsOp = <A>(operation: string, f: () => Promise<A>) =>
      Effect.tryPromise({
        try: f,
        catch: (e) =>
          new GitOperationFailed({
            operation: "filesystem",
            message: redact(`${operation}: ${e instanceof Error ? e.message : String(e)}`)
          })
      })

    const exists = (path: string) => Effect.promise(() => Fs.stat(path).then(() => true, () => false))

    const removeDir = (path: string) => fsOp("remove directory", () => Fs.rm(path, { recursive: true, force: true }))

    const touch = (dir: string) =>
      Effect.promise(() => {
        const now = new Date()
        return Fs.utimes(dir, now, now).catch(() => undefined)
      })

    // --- credentials ------------------------------------------------------------------------

    /**
     * The credential header for `repo`, scoped to its `scheme://host/` and only when one is
     * configured for that host (or the caller passed a token for this very repository).
     */
    const authConfig = (
      repo: { readonly usesHttpAuth: boolean; readonly url: string },
      token: Redacted.Redacted<string> | undefined
    ) =>
      Effect.gen(function*() {
        const scope = GitCredentials.scopeOf(repo.url)
        if (!repo.usesHttpAuth || Option.isNone(scope)) return []
        const credential = token === undefined
          ? GitCredentials.forUrl(config.credentials, repo.url)
          : Option.some({ username: Option.getOrElse(config.gitUsername, () => "x-access-token"), token })
        if (Option.isNone(credential)) return []
        const { token: secret, username } = credential.value
        const basic = Buffer.from(`${username}:${Redacted.value(secret)}`, "utf8").toString("base64")
        yield* redactor.register(secret)
        yield* redactor.register(basic)
        return [[`http.${scope.value}.extraHeader`, `Authorization: Basic ${basic}`] as const]
      })

    const originOf = (dir: string) =>
      Effect.gen(function*() {
        const url = (yield* gitOk(dir, ["config", "--get", "remote.origin.url"])).trim()
        return RepoUrl.parse(url, { allowFile: config.allowFile }).pipe(
          Either.getOrElse(() => ({ usesHttpAuth: false, url }))
        )
      })

    /** `<repository key>` (the shared cache) or `<repository key>-<16 hex of the project>` (a project's work tree). */
    const keyFor = (repo: RepoUrl.RepoUrl, project: string | undefined): string =>
      project === undefined
        ? repo.key
        : `${repo.key}-${createHash("sha256").update(project, "utf8").digest("hex").slice(0, 16)}`

    // --- locks --------------------------------------------------------------------------------

    const lockFor = (key: string): Effect.Semaphore => {
      const dir = Path.join(workspaceDir, key)
      const existing = repositoryLocks.get(dir)
      if (existing !== undefined) return existing
      const created = Effect.unsafeMakeSemaphore(1)
      repositoryLocks.set(dir, created)
      return created
    }
    const withRepoLock = (key: string) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
      lockFor(key).withPermits(1)(
        Effect.logDebug("Workspace lock acquired").pipe(
          Effect.zipRight(self),
          Effect.ensuring(Effect.logDebug("Workspace lock released"))
        )
      ).pipe(Effect.annotateLogs({ repoKey: key }))

    /** A repoPath from a caller must be a workspace this service created: `<workspaceDir>/<key>`. */
    const checkRepoPath = (repoPath: string) =>
      Effect.gen(function*() {
        const resolved = Path.resolve(repoPath)
        const key = Path.basename(resolved)
        if (Path.dirname(resolved) !== workspaceDir || !RepoUrl.isCacheKey(key)) {
          return yield* new BadRequest({ message: "repoPath is not a workspace of this service" })
        }
        if (!(yield* exists(Path.join(resolved, ".git", "HEAD")))) {
          return yield* new BadRequest({ message: "repoPath does not hold a prepared workspace; run prep first" })
        }
        return { dir: resolved, key }
      })

    // --- ref helpers ----------------------------------------------------------------------

    const revParse = (dir: string, ref: string) =>
      Effect.map(
        git(dir, ["rev-parse", "--verify", "--quiet", `${ref}^{commit}`]),
        (r) => r.exitCode === 0 ? Option.some(r.stdout.trim()) : Option.none<string>()
      )

    /** `refname → commit` for the given full ref names that exist (one git process). */
    const refsSnapshot = (dir: string, names: ReadonlyArray<string>) =>
      Effect.map(gitOk(dir, ["for-each-ref", "--format=%(objectname) %(refname)", "--", ...names]), (out) => {
        const wanted = new Set(names)
        const found = new Map<string, string>()
        for (const line of out.split("\n")) {
          const space = line.indexOf(" ")
          const name = line.slice(space + 1)
          if (space > 0 && wanted.has(name)) found.set(name, line.slice(0, space))
        }
        return found
      })

    const isAncestor = (dir: string, ancestor: string, descendant: string) =>
      Effect.flatMap(git(dir, ["merge-base", "--is-ancestor", ancestor, descendant]), (r) =>
        r.exitCode === 0
          ? Effect.succeed(true)
          : r.exitCode === 1
          ? Effect.succeed(false)
          : Effect.fail(failure("merge-base", r)))

    const currentBranch = (dir: string) =>
      Effect.map(
        git(dir, ["symbolic-ref", "--quiet", "HEAD"]),
        (r) =>
          r.exitCode === 0 && r.stdout.startsWith("refs/heads/")
            ? Option.some(r.stdout.trim().slice("refs/heads/".length))
            : Option.none<string>()
      )

    /** Clears whatever a crash (or a failed operation) may have left: merge/rebase in progress, locks, leftovers. */
    const cleanState = (dir: string) =>
      Effect.gen(function*() {
        const gitDir = Path.join(dir, ".git")
        // Lock files can only be stale here: this process holds the repository lock and is the
        // only user of its WORKSPACE_DIR. A git process killed mid-write leaves them behind.
        yield* fsOp("remove stale git locks", async () => {
          const refLocks = await Fs.readdir(Path.join(gitDir, "refs"), { recursive: true, encoding: "utf8" })
            .then((names) => names.filter((n) => n.endsWith(".lock")).map((n) => Path.join("refs", n)), () => [])
          await Promise.all([...staleLockFiles, ...refLocks].map((f) => Fs.rm(Path.join(gitDir, f), { force: true })))
        })
        if (yield* exists(Path.join(gitDir, "MERGE_HEAD"))) yield* git(dir, ["merge", "--abort"])
        if (
          (yield* exists(Path.join(gitDir, "rebase-merge"))) || (yield* exists(Path.join(gitDir, "rebase-apply")))
        ) {
          yield* git(dir, ["rebase", "--abort"])
        }
        if (yield* exists(Path.join(gitDir, "CHERRY_PICK_HEAD"))) yield* git(dir, ["cherry-pick", "--abort"])
        const status = yield* gitOk(dir, ["status", "--porcelain", "--untracked-files=all"])
        if (status.trim().length > 0) {
          yield* Effect.logDebug("Workspace: discarding uncommitted leftovers")
          yield* gitOk(dir, ["reset", "--hard", "--quiet"])
          yield* gitOk(dir, ["clean", "-fd", "--quiet"])
        }
      })

    /** The base branch locally: created from, or fast-forwarded to, `origin/<base>` when behind it. */
    const ensureLocalBase = (dir: string, base: string) =>
      Effect.gen(function*() {
        const remote = yield* revParse(dir, remoteRef(base))
        const local = yield* revParse(dir, fullRef(base))
        if (Option.isNone(local)) {
          if (Option.isNone(remote)) {
            return yield* new BranchNotFound({ message: `Base branch '${base}' does not exist`, branch: base })
          }
          yield* gitOk(dir, ["update-ref", fullRef(base), remote.value])
          return remote.value
        }
        if (Option.isSome(remote) && remote.value !== local.value) {
          if (yield* isAncestor(dir, local.value, remote.value)) {
            yield* gitOk(dir, ["update-ref", fullRef(base), remote.value, local.value])
            const head = yield* currentBranch(dir)
            if (Option.isSome(head) && head.value === base) yield* gitOk(dir, ["reset", "--hard", "--quiet"])
            return remote.value
          }
        }
        return local.value
      })

    /** The newest of the local base and `origin/<base>` (local when it contains origin's). */
    const baseTip = (dir: string, base: string) =>
      Effect.gen(function*() {
        const remote = yield* revParse(dir, remoteRef(base))
        const local = yield* revParse(dir, fullRef(base))
        if (Option.isSome(local) && Option.isSome(remote)) {
          return (yield* isAncestor(dir, remote.value, local.value)) ? local.value : remote.value
        }
        if (Option.isSome(local)) return local.value
        if (Option.isSome(remote)) return remote.value
        return yield* new BranchNotFound({ message: `Base branch '${base}' does not exist`, branch: base })
      })

    const checkBranch = checkBranchName

    // --- prepare ------------------------------------------------------------------------------

    const cloneInto = (repo: RepoUrl.RepoUrl, dir: string, auth: ReadonlyArray<readonly [string, string]>) =>
      Effect.acquireUseRelease(
        Effect.sync(() => Path.join(workspaceDir, `.tmp-clone-${repo.key}-${randomBytes(6).toString("hex")}`)),
        (tmp) =>
          Effect.gen(function*() {
            const r = yield* git(workspaceDir, [
              "clone",
              "--quiet",
              "--no-checkout",
              "--origin",
              "origin",
              "--",
              repo.url,
              tmp
            ], {
              config: auth
            })
            if (r.exitCode !== 0) return yield* remoteFailure("clone", r)
            yield* removeDir(dir)
            yield* fsOp("move clone into place", () => Fs.rename(tmp, dir))
          }),
        (tmp) => Effect.ignore(removeDir(tmp))
      )

    const fetchOrigin = (dir: string, auth: ReadonlyArray<readonly [string, string]>) =>
      Effect.flatMap(
        git(dir, ["fetch", "--quiet", "--prune", "origin", "+refs/heads/*:refs/remotes/origin/*"], { config: auth }),
        (r) => r.exitCode === 0 ? Effect.void : Effect.fail(remoteFailure("fetch", r))
      )

    const remoteDefaultBranch = (dir: string) =>
      Effect.map(git(dir, ["symbolic-ref", "--quiet", "refs/remotes/origin/HEAD"]), (r) => {
        const ref = r.stdout.trim()
        return r.exitCode === 0 && ref.startsWith("refs/remotes/origin/")
          ? ref.slice("refs/remotes/origin/".length)
          : "main"
      })

    /** Clones the repository into the cache, or fetches it when cached. Call with the repo lock held. */
    const ensureRepo = (repo: RepoUrl.RepoUrl, dir: string, auth: ReadonlyArray<readonly [string, string]>) =>
      Effect.gen(function*() {
        yield* fsOp("create workspace directory", () => Fs.mkdir(workspaceDir, { recursive: true }))
        let cached = yield* exists(Path.join(dir, ".git", "HEAD"))
        if (cached) {
          // A workspace git can no longer make sense of (a crash mid-write, a disk problem) is
          // only a cache: drop it and clone again.
          const healthy = yield* cleanState(dir).pipe(
            Effect.as(true),
            Effect.catchAll((e) =>
              Effect.logWarning(`Workspace: unusable cached repository, cloning again: ${e.message}`).pipe(
                Effect.as(false)
              )
            )
          )
          if (healthy) yield* fetchOrigin(dir, auth)
          else cached = false
        }
        if (!cached) yield* cloneInto(repo, dir, auth)
        return { cloned: !cached }
      })

    const sync = Effect.fn("Workspace.sync")(function*(options: SyncOptions) {
      const repo = yield* RepoUrl.validate(options.repoUrl, { allowFile: config.allowFile })
      if (options.baseBranch !== undefined) yield* checkBranch(options.baseBranch, "baseBranch")
      const key = keyFor(repo, options.project)
      const dir = Path.join(workspaceDir, key)
      const auth = yield* authConfig(repo, options.token)
      return yield* withRepoLock(key)(Effect.gen(function*() {
        const { cloned } = yield* ensureRepo(repo, dir, auth)
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
      const auth = yield* authConfig(repo, options.token)
      return yield* withRepoLock(key)(Effect.gen(function*() {
        const { cloned } = yield* ensureRepo(repo, dir, auth)
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

    const diffAgainstBase = (dir: string, branch: string, base: string) =>
      Effect.gen(function*() {
        const head = yield* revParse(dir, fullRef(branch))
        if (Option.isNone(head)) {
          return yield* new BranchNotFound({ message: `Branch '${branch}' does not exist`, branch })
        }
        const baseRev = yield* baseTip(dir, base)
        const range = `${baseRev}...${head.value}`
        const numstat = yield* gitOk(dir, [
          "diff",
          "--numstat",
          "-z",
          "--no-renames",
          "--no-ext-diff",
          "--no-textconv",
          range,
          "--"
        ])
        const filesModified: Array<string> = []
        let linesChanged = 0
        for (const entry of numstat.split("\0")) {
          const match = /^(-|\d+)\t(-|\d+)\t(.*)$/s.exec(entry)
          if (match === null) continue
          const [, added = "-", deleted = "-", file = ""] = match
          filesModified.push(file)
          linesChanged += (added === "-" ? 0 : Number(added)) + (deleted === "-" ? 0 : Number(deleted))
        }
        const full = yield* gitOk(dir, [
          "diff",
          "--no-color",
          "--no-renames",
          "--no-ext-diff",
          "--no-textconv",
          range,
          "--"
        ])
        const diffTruncated = full.length > maxDiffChars
        return {
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
      return yield* withRepoLock(key)(diffAgainstBase(dir, options.branch, options.baseBranch))
    })

    const commitAll = Effect.fn("Workspace.commitAll")(function*(options: CommitOptions) {
      const { dir, key } = yield* checkRepoPath(options.repoPath)
      yield* checkBranch(options.branch, "branch")
      yield* checkBranch(options.baseBranch, "baseBranch")
      if (options.branch === options.baseBranch) {
        return yield* new BadRequest({ message: "commitAll commits on a task branch, never on the base branch" })
      }
      return yield* withRepoLock(key)(Effect.gen(function*() {
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
        const staged = yield* git(dir, ["diff", "--cached", "--quiet", "--no-ext-diff"])
        if (staged.exitCode > 1) return yield* failure("diff", staged)
        const committed = staged.exitCode === 1
        if (committed) {
          const message = options.message.replaceAll("\0", "").slice(0, 64 * 1024)
          yield* gitOk(dir, ["commit", "--quiet", "--no-verify", "--cleanup=whitespace", "--file=-"], {
            stdin: message.trim().length > 0 ? message : "update"
          })
        }
        const commit = (yield* gitOk(dir, ["rev-parse", "HEAD"])).trim()
        const summary = yield* diffAgainstBase(dir, options.branch, options.baseBranch)
        yield* touch(dir)
        yield* Effect.logInfo(committed ? `Workspace committed ${commit}` : "Workspace: nothing to commit")
        return { committed, commit, ...summary }
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
      const auth = yield* authConfig(repo, options.token)
      const { baseBranch: base, branch } = options
      return yield* withRepoLock(key)(Effect.gen(function*() {
        yield* ensureRepo(repo, dir, auth)
        const baseCommit = yield* revParse(dir, remoteRef(base))
        if (Option.isNone(baseCommit)) {
          return yield* new BranchNotFound({
            message: `Base branch '${base}' does not exist on the remote`,
            branch: base
          })
        }
        const tip = yield* revParse(dir, fullRef(branch))
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
        const head = (yield* gitOk(dir, ["rev-parse", "HEAD"])).trim()
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
        const tip = yield* revParse(dir, fullRef(branch))
        if (Option.isNone(tip)) {
          return yield* new BranchNotFound({ message: `Branch '${branch}' does not exist`, branch })
        }
        const baseHead = yield* ensureLocalBase(dir, base)
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
        const mergeCommit = (yield* gitOk(dir, ["rev-parse", "HEAD"])).trim()
        yield* touch(dir)
        yield* Effect.logInfo(`Workspace merged ${branch} into ${base}`)
        return { mergeCommit, alreadyMerged: false }
      }))
    })

    // --- push ---------------------------------------------------------------------------------

    const pushBase = (dir: string, base: string, token: Redacted.Redacted<string> | undefined) =>
      Effect.gen(function*() {
        const local = yield* revParse(dir, fullRef(base))
        if (Option.isNone(local)) {
          return yield* new BranchNotFound({ message: `Base branch '${base}' does not exist`, branch: base })
        }
        const remote = yield* revParse(dir, remoteRef(base))
        if (Option.isSome(remote) && (yield* isAncestor(dir, local.value, remote.value))) {
          return { pushedCommit: local.value, alreadyPushed: true, rebased: false }
        }
        const auth = yield* authConfig(yield* originOf(dir), token)
        const refspec = `${fullRef(base)}:${fullRef(base)}`
        const attempt = git(dir, ["push", "--porcelain", "--no-verify", "origin", refspec], { config: auth })
        const first = yield* attempt
        if (first.exitCode === 0) return { pushedCommit: local.value, alreadyPushed: false, rebased: false }
        if (/\[remote rejected\]/.test(first.stdout + first.stderr)) {
          // A hook or branch protection refused it: retrying after a rebase would not help.
          return yield* new PushRejected({
            message: redact(`The remote refused the push of '${base}': ${tail(first.stdout + "\n" + first.stderr)}`),
            branch: base
          })
        }
        if (!nonFastForwardPattern.test(first.stdout + first.stderr)) return yield* remoteFailure("push", first)
        yield* Effect.logInfo(`Workspace: push of ${base} rejected (non-fast-forward); fetching and rebasing once`)
        const fetched = yield* git(dir, ["fetch", "--quiet", "origin", `+${fullRef(base)}:${remoteRef(base)}`], {
          config: auth
        })
        if (fetched.exitCode !== 0) return yield* remoteFailure("fetch", fetched)
        const newRemote = (yield* gitOk(dir, ["rev-parse", remoteRef(base)])).trim()
        if (yield* isAncestor(dir, local.value, newRemote)) {
          return { pushedCommit: local.value, alreadyPushed: true, rebased: false }
        }
        const current = yield* currentBranch(dir)
        if (Option.isNone(current) || current.value !== base) {
          yield* gitOk(dir, ["checkout", "--quiet", "--force", base, "--"])
        }
        const rebase = yield* git(dir, ["rebase", "--quiet", "--rebase-merges", "--no-autosquash", remoteRef(base)])
        if (rebase.exitCode !== 0) {
          const unmerged = yield* git(dir, ["diff", "--name-only", "--diff-filter=U", "-z"])
          yield* git(dir, ["rebase", "--abort"])
          yield* cleanState(dir)
          const files = unmerged.stdout.split("\0").filter((f) => f.length > 0)
          return yield* new PushRejected({
            message: redact(
              `The remote '${base}' moved on and rebasing onto it failed${
                files.length > 0 ? ` (conflicts in ${files.join(", ")})` : ""
              }: ${tail(rebase.stderr)}`
            ),
            branch: base
          })
        }
        const rebased = (yield* gitOk(dir, ["rev-parse", fullRef(base)])).trim()
        const second = yield* attempt
        if (second.exitCode === 0) return { pushedCommit: rebased, alreadyPushed: false, rebased: true }
        if (!nonFastForwardPattern.test(second.stdout + second.stderr)) return yield* remoteFailure("push", second)
        return yield* new PushRejected({
          message: redact(
            `The push of '${base}' was rejected again after one fetch and rebase: ${tail(second.stderr)}`
          ),
          branch: base
        })
      })

    const push = Effect.fn("Workspace.push")(function*(options: PushOptions) {
      const { dir, key } = yield* checkRepoPath(options.repoPath)
      yield* checkBranch(options.baseBranch, "baseBranch")
      return yield* withRepoLock(key)(Effect.gen(function*() {
        yield* cleanState(dir)
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
        const local = yield* revParse(dir, fullRef(branch))
        if (Option.isNone(local)) {
          return yield* new BranchNotFound({ message: `Branch '${branch}' does not exist`, branch })
        }
        // a push updates the remote-tracking ref too: equal means this very commit was published
        const published = yield* revParse(dir, remoteRef(branch))
        if (Option.isSome(published) && published.value === local.value) {
          return { commit: local.value, alreadyPublished: true }
        }
        const auth = yield* authConfig(yield* originOf(dir), options.token)
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
        yield* ensureRepo(repo, dir, yield* authConfig(repo, options.token))
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
      const auth = yield* authConfig(repo, options.token)
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

    // --- task list ------------------------------------------------------------------------

    /** `{ mode, blob }` of `path` at `rev`, None when absent; BadRequest when it is not a regular file. */
    const fileAt = (dir: string, rev: string, path: string) =>
      Effect.gen(function*() {
        const out = yield* gitOk(dir, ["ls-tree", "-z", "--full-tree", rev, "--", path])
        const match = /^(\d{6}) (\w+) ([0-9a-f]+)\t(.*)$/s.exec(out.split("\0")[0] ?? "")
        if (match === null || match[4] !== path) return Option.none<{ mode: string; blob: string }>()
        const [, mode = "", type = "", blob = ""] = match
        if (type !== "blob" || (mode !== "100644" && mode !== "100755")) {
          return yield* new BadRequest({ message: `The task list ${JSON.stringify(path)} is not a regular file` })
        }
        return Option.some({ mode, blob })
      })

    const readBlob = (dir: string, blob: string) =>
      Effect.gen(function*() {
        const size = Number((yield* gitOk(dir, ["cat-file", "-s", blob])).trim())
        if (size > maxTaskListBytes) {
          return yield* new BadRequest({ message: `The task list is larger than ${maxTaskListBytes} bytes` })
        }
        return yield* gitOk(dir, ["cat-file", "blob", blob])
      })

    const readTaskList = Effect.fn("Workspace.readTaskList")(function*(options: ReadTaskListOptions) {
      const { dir, key } = yield* checkRepoPath(options.repoPath)
      yield* checkBranch(options.baseBranch, "baseBranch")
      const path = yield* checkRepoFilePath(options.path)
      return yield* withRepoLock(key)(Effect.gen(function*() {
        const rev = yield* baseTip(dir, options.baseBranch)
        const file = yield* fileAt(dir, rev, path)
        if (Option.isNone(file)) return Option.none<string>()
        return Option.some(yield* readBlob(dir, file.value.blob))
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
        const source = yield* readBlob(dir, file.value.blob)
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
          // Build the commit with plumbing on a private index: the work tree is never written
          // through a path from the repository (a symlinked directory cannot redirect the write).
          const blob = (yield* gitOk(dir, ["hash-object", "-w", "--stdin"], { stdin: rendered })).trim()
          const tree = yield* Effect.acquireUseRelease(
            Effect.sync(() => Path.join(dir, ".git", `devteam-index-${randomBytes(6).toString("hex")}`)),
            (indexFile) =>
              Effect.gen(function*() {
                const env = { GIT_INDEX_FILE: indexFile }
                yield* gitOk(dir, ["read-tree", tip], { env })
                yield* gitOk(dir, ["update-index", "--cacheinfo", `${file.value.mode},${blob},${path}`], { env })
                return (yield* gitOk(dir, ["write-tree"], { env })).trim()
              }),
            (indexFile) => Effect.promise(() => Fs.rm(indexFile, { force: true }))
          )
          commit = (yield* gitOk(dir, ["commit-tree", tree, "-p", tip, "-F", "-"], {
            stdin: `${options.taskId}: mark completed\n`
          })).trim()
          yield* gitOk(dir, ["update-ref", "-m", `${options.taskId}: mark completed`, fullRef(base), commit, tip])
          const current = yield* currentBranch(dir)
          if (Option.isSome(current) && current.value === base) yield* gitOk(dir, ["reset", "--hard", "--quiet"])
        }
        const pushed = yield* pushBase(dir, base, options.token)
        yield* touch(dir)
        yield* Effect.logInfo(
          committed ? `Workspace marked ${options.taskId} completed` : `Workspace: ${options.taskId} already marked`
        )
        return { committed, commit: pushed.pushedCommit, alreadyPushed: pushed.alreadyPushed }
      }))
    })

    // --- validate -----------------------------------------------------------------------------

    const defaultBranch = Effect.fn("Workspace.defaultBranch")(function*(
      options: { readonly repoUrl: string; readonly token?: Redacted.Redacted<string> | undefined }
    ) {
      const repo = yield* RepoUrl.validate(options.repoUrl, { allowFile: config.allowFile })
      const asked = Effect.gen(function*() {
        const auth = yield* authConfig(repo, options.token)
        yield* fsOp("create workspace directory", () => Fs.mkdir(workspaceDir, { recursive: true }))
        const r = yield* git(workspaceDir, ["ls-remote", "--symref", "--", repo.url, "HEAD"], { config: auth })
        const match = r.exitCode === 0 ? /^ref: refs\/heads\/(\S+)\tHEAD$/m.exec(r.stdout) : null
        return Option.fromNullable(match?.[1])
      })
      return yield* asked.pipe(
        Effect.catchAll((e) =>
          Effect.logWarning(`Workspace: cannot ask the remote for its default branch: ${e.message}`).pipe(
            Effect.as(Option.none<string>())
          )
        )
      )
    })

    const validate = Effect.fn("Workspace.validate")(function*(options: ValidateOptions) {
      const repo = yield* RepoUrl.validate(options.repoUrl, { allowFile: config.allowFile })
      if (options.baseBranch !== undefined) yield* checkBranch(options.baseBranch, "baseBranch")
      const path = yield* checkRepoFilePath(options.taskListPath ?? defaultTaskListPath)
      const auth = yield* authConfig(repo, options.token)
      yield* fsOp("create workspace directory", () => Fs.mkdir(workspaceDir, { recursive: true }))
      const refs = yield* git(workspaceDir, [
        "ls-remote",
        "--symref",
        "--",
        repo.url,
        "HEAD",
        ...(options.baseBranch === undefined ? [] : [fullRef(options.baseBranch)])
      ], { config: auth })
      const notFound = { found: false, path }
      if (refs.exitCode !== 0) {
        const error = remoteFailure("ls-remote", refs)
        return {
          reachable: false,
          accessDenied: error._tag === "RepositoryAccessDenied",
          message: error.message,
          defaultBranch: null,
          baseBranch: options.baseBranch ?? null,
          baseBranchExists: false,
          taskList: notFound
        }
      }
      const lines = refs.stdout.split("\n")
      const symref = lines.map((l) => /^ref: refs\/heads\/(\S+)\tHEAD$/.exec(l)).find((m) => m !== null)
      const defaultBranch = symref?.[1] ?? null
      const base = options.baseBranch ?? defaultBranch
      const baseExists = base !== null && lines.some((l) => l.endsWith(`\t${fullRef(base)}`)) ||
        (base !== null && base === defaultBranch && lines.some((l) => /^[0-9a-f]+\tHEAD$/.test(l)))
      if (base === null || !baseExists) {
        return {
          reachable: true,
          accessDenied: false,
          message: base === null
            ? "The repository has no default branch (is it empty?)"
            : `Branch '${base}' does not exist on the remote`,
          defaultBranch,
          baseBranch: base,
          baseBranchExists: false,
          taskList: notFound
        }
      }
      // Fetch just the tip of the base branch into a throw-away bare repository: no work tree, no cache.
      const text = yield* Effect.scoped(Effect.gen(function*() {
        const tmp = yield* Effect.acquireRelease(
          fsOp("create temp dir", () => Fs.mkdtemp(Path.join(workspaceDir, ".validate-"))),
          (dir) => Effect.ignore(removeDir(dir))
        )
        yield* gitOk(tmp, ["init", "--quiet", "--bare"])
        const fetched = yield* git(tmp, [
          "fetch",
          "--quiet",
          "--depth=1",
          "--no-tags",
          "--",
          repo.url,
          `+${fullRef(base)}:${fullRef(base)}`
        ], {
          config: auth
        })
        if (fetched.exitCode !== 0) return yield* remoteFailure("fetch", fetched)
        const file = yield* fileAt(tmp, fullRef(base), path)
        if (Option.isNone(file)) return Option.none<string>()
        return Option.some(yield* readBlob(tmp, file.value.blob))
      })).pipe(
        Effect.catchTag(
          "RepositoryAccessDenied",
          (e) => Effect.fail(new GitOperationFailed({ operation: "fetch", message: e.message }))
        )
      )
      return {
        reachable: true,
        accessDenied: false,
        defaultBranch,
        baseBranch: base,
        baseBranchExists: true,
        taskList: Option.match(text, {
          onNone: () => notFound,
          onSome: (t) => ({ found: true, path, text: t })
        })
      }
    })

    // --- cleanup ------------------------------------------------------------------------------

    const cleanup = Effect.fn("Workspace.cleanup")(function*(options: CleanupOptions) {
      const active = new Set(options.activeRepoKeys)
      const only = options.only === undefined ? undefined : new Set(options.only)
      const maxAge = Duration.toMillis(Duration.decode(options.olderThan))
      const entries = yield* fsOp("list workspaces", () =>
        Fs.readdir(workspaceDir).catch((e: unknown) => {
          if (e instanceof Error && "code" in e && e.code === "ENOENT") return []
          throw e
        }))
      const removed: Array<string> = []
      const kept: Array<string> = []
      const now = Date.now()
      for (const name of entries) {
        if (only !== undefined && !only.has(name)) continue
        const isWorkspace = RepoUrl.isCacheKey(name)
        if (!isWorkspace && !/^\.(?:tmp-clone|validate)-/.test(name)) continue
        const full = Path.join(workspaceDir, name)
        const stat = yield* Effect.promise(() => Fs.stat(full).catch(() => undefined))
        if (stat === undefined) continue
        const idle = now - stat.mtimeMs >= maxAge
        if (!isWorkspace) {
          if (idle) yield* removeDir(full)
          continue
        }
        if (active.has(name) || !idle) {
          kept.push(name)
          continue
        }
        // Never remove a workspace an operation holds right now.
        const done = yield* lockFor(name).withPermitsIfAvailable(1)(removeDir(full))
        if (Option.isSome(done)) removed.push(name)
        else kept.push(name)
      }
      if (removed.length > 0) yield* Effect.logInfo(`Workspace cleanup removed ${removed.length} workspace(s)`)
      return { removed, kept }
    })

    const repoKey = (repoUrl: string, project?: string) =>
      Effect.map(RepoUrl.validate(repoUrl, { allowFile: config.allowFile }), (r) => keyFor(r, project))

    return Workspace.of({
      config,
      prepare,
      commitAll,
      diffSummary,
      branchExists,
      merge,
      push,
      publishBranch,
      ensureTaskBranch,
      pullTaskBranch,
      readTaskList,
      refreshBranch,
      sync,
      markTaskCompleted,
      validate,
      defaultBranch,
      cleanup,
      repoKey
    })
  })

/** The Workspace over the given configuration (requires a Redactor). */
export const layer = (config: WorkspaceConfig): Layer.Layer<Workspace, never, Redaction.Redactor> =>
  Layer.effect(Workspace, make(config))

/** The Workspace over `WorkspaceConfig` read from the environment (requires a Redactor). */
export const layerConfig: Layer.Layer<Workspace, ConfigError.ConfigError, Redaction.Redactor> = Layer.effect(
  Workspace,
  Effect.gen(function*() {
    const config = yield* WorkspaceConfig
    const token = yield* Config.option(Config.redacted("GIT_TOKEN"))
    const hosts = yield* Config.string("GIT_HOSTS").pipe(Config.withDefault(""))
    if (Option.isSome(token) && hosts.trim() === "") {
      yield* Effect.logWarning(
        "GIT_TOKEN is set but GIT_HOSTS is empty: the token is sent to no host (list the hosts it belongs to in GIT_HOSTS)"
      )
    }
    return yield* make(config)
  })
)
