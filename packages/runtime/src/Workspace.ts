/**
 * The git workspace port and its types: a repository cache under WORKSPACE_DIR (one work tree per
 * project and remote, keyed by a hash of the normalised URL), task branches, commits, merges,
 * pushes and task-list ticks. The git implementation is GitWorkspace; the repository probe the
 * gateway needs (validate, default branch) is RepositoryProbe.
 *
 * - Every operation on one work tree runs under that work tree's lock (WorkspaceLocks), so two
 *   operations never touch one work tree at once; every operation first clears what a crash may
 *   have left behind (an in-progress merge or rebase, a stale index.lock; uncommitted leftovers
 *   before it uses the work tree) and detects work already done, so a re-run after a crash is a no-op.
 * - Credentials reach git only for the commands that talk to the remote they are configured for,
 *   through the environment, never on a command line, in `.git/config`, a URL or a log line.
 * - git runs without a shell, with hooks, credential helpers, fsmonitor and signing disabled, the
 *   user's global/system configuration ignored, transports restricted (GIT_ALLOW_PROTOCOL) and a
 *   timeout; a request's values only reach git after validation, after `--` or inside `<rev>:<path>`.
 */
import type {
  BadRequest,
  BranchNotFound,
  GitOperationFailed,
  InvalidRepoUrl,
  MergeConflict,
  PushRejected,
  RepositoryAccessDenied,
  TaskNotFound
} from "@devteam/domain/Errors"
import type { TaskId } from "@devteam/domain/Ids"
import { Config, Context, Duration, type Effect, Option, type Redacted } from "effect"
import * as Path from "node:path"
import * as GitCredentials from "./GitCredentials.js"
import * as OutboundPolicy from "./OutboundPolicy.js"

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
  /** Longest a single git command may run (fetch/push of a large repository included). */
  readonly commandTimeout: Duration.Duration
  /** Where the service may connect for a repository (REPO_ALLOWED_HOSTS, REPO_ALLOW_PRIVATE); default: public hosts. */
  readonly outbound?: OutboundPolicy.OutboundConfig | undefined
  /** REPO_VALIDATE_TIMEOUT: longest a validation / default-branch probe takes, waiting for a slot included (30 s). */
  readonly probeTimeout?: Duration.Duration | undefined
  /** REPO_CLONE_TIMEOUT: longest a clone may take (5 minutes). */
  readonly cloneTimeout?: Duration.Duration | undefined
  /** REPO_MAX_CONCURRENT: clones and probes running at once per process part (4); more wait. */
  readonly maxConcurrentRemote?: number | undefined
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
  outbound: OutboundPolicy.OutboundConfig,
  probeTimeout: Config.duration("REPO_VALIDATE_TIMEOUT").pipe(
    Config.withDefault(Duration.seconds(30)),
    Config.validate({
      message: "REPO_VALIDATE_TIMEOUT must be between 1 second and 10 minutes",
      validation: (d) => Duration.between(d, { minimum: Duration.seconds(1), maximum: Duration.minutes(10) })
    }),
    Config.withDescription("Longest a repository validation may take")
  ),
  cloneTimeout: Config.duration("REPO_CLONE_TIMEOUT").pipe(
    Config.withDefault(Duration.minutes(5)),
    Config.validate({
      message: "REPO_CLONE_TIMEOUT must be between 5 seconds and 2 hours",
      validation: (d) => Duration.between(d, { minimum: Duration.seconds(5), maximum: Duration.hours(2) })
    }),
    Config.withDescription("Longest a clone may take")
  ),
  maxConcurrentRemote: Config.integer("REPO_MAX_CONCURRENT").pipe(
    Config.withDefault(4),
    Config.validate({
      message: "REPO_MAX_CONCURRENT must be between 1 and 1000",
      validation: (n) => n >= 1 && n <= 1000
    }),
    Config.withDescription("Clones and repository validations running at once")
  ),
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

export interface CommitChangesResult {
  /** False when nothing had changed (including a re-run after the commit was made). */
  readonly committed: boolean
  /** The branch head after the operation. */
  readonly commit: string
}

export interface CommitResult extends DiffSummary, CommitChangesResult {}

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
  /** The push went in only after a rebase onto a moved remote (`commit` is the rebased head). */
  readonly rebased: boolean
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
  /** `commitAll` without the diff summary (one git process fewer): for a caller that has the changes already. */
  readonly commitChanges: (
    options: CommitOptions
  ) => Effect.Effect<CommitChangesResult, BadRequest | BranchNotFound | GitOperationFailed>
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
  /** Removes workspaces unused for `olderThan` that are not active (and not locked right now). */
  readonly cleanup: (options: CleanupOptions) => Effect.Effect<CleanupResult, GitOperationFailed>
  /** The directory name of a repository's work tree (per project, or the shared cache); for `cleanup`'s active set. */
  readonly repoKey: (repoUrl: string, project?: string) => Effect.Effect<string, InvalidRepoUrl>
}>() {}
