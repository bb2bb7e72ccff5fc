/**
 * git plumbing shared by the Workspace's parts and the repository probe: running git with the
 * service's hardening, timeout and redaction; the credential header for a remote; refs; the
 * repository cache (clone, fetch, crash leftovers); blobs at a revision; pushing the base branch.
 *
 * Credentials (the one configured for the remote's host — GitCredentials — or a per-call token)
 * reach git only for the commands that talk to that remote, as an `http.<scheme://host/>.extraHeader`
 * passed through GIT_CONFIG_COUNT/KEY/VALUE environment variables: never on the command line, in
 * `.git/config`, the remote URL or a log line, never to a host they are not configured for, and
 * never across a redirect (git follows none). Every message produced here goes through the Redactor.
 *
 * Every command that talks to a remote first passes the outbound policy (OutboundPolicy: allowed
 * hosts, public addresses only unless REPO_ALLOW_PRIVATE) and is pinned to the address checked.
 * Clones and repository probes share a cap on how many run at once (REPO_MAX_CONCURRENT) and have
 * their own, shorter timeouts (REPO_CLONE_TIMEOUT, REPO_VALIDATE_TIMEOUT). Messages about a failed
 * clone, fetch or ls-remote leave out the remote's own text (`remote: …` lines: an HTTP body of
 * whatever answered); a push's keep it (the repository's own hooks explain a refusal there).
 *
 * Nothing here takes a work tree's lock: callers hold it (WorkspaceLocks) around what they compose.
 */
import {
  BadRequest,
  BranchNotFound,
  GitOperationFailed,
  type InvalidRepoUrl,
  PushRejected,
  RepositoryAccessDenied
} from "@devteam/domain/Errors"
import { Config, Duration, Effect, Either, Option, Redacted } from "effect"
import { createHash, randomBytes } from "node:crypto"
import type { BigIntStats } from "node:fs"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import * as GitCredentials from "../GitCredentials.js"
import * as OutboundPolicy from "../OutboundPolicy.js"
import * as Redaction from "../Redaction.js"
import * as RepoUrl from "../RepoUrl.js"
import type { WorkspaceConfig } from "../Workspace.js"
import { type GitResult, runGit } from "./gitProcess.js"
import * as GitRefs from "./gitRefs.js"

/** The plumbing runs on the Workspace configuration itself (one definition of its fields). */
export type GitPlumbingConfig = WorkspaceConfig

export const defaultProbeTimeout = Duration.seconds(30)
export const defaultCloneTimeout = Duration.minutes(5)
export const defaultMaxConcurrentRemote = 4

export type RemoteError = RepositoryAccessDenied | GitOperationFailed

/** `-c` style configuration passed to git through the environment (the credential header). */
export type GitAuth = ReadonlyArray<readonly [string, string]>

/** A local repository of the same remote a clone copies objects from, and how to hold it still meanwhile. */
export interface CloneReference {
  readonly dir: string
  /** Runs the clone with the reference's lock held: no fetch or gc there while objects are read. */
  readonly hold: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

export interface EnsureRepoOptions {
  readonly workTree?: boolean
  readonly fetch?: boolean
  /** A local clone of the same remote to copy objects from when this has to clone. */
  readonly reference?: CloneReference | undefined
}

export interface RunOptions {
  readonly config?: GitAuth
  readonly env?: Readonly<Record<string, string>>
  readonly stdin?: string
  /** Instead of the configured command timeout. */
  readonly timeout?: Duration.Duration
}

/** git's verdict lines: kept even when they are not among the last lines (a non-bare remote's refusal). */
const keyLine = /\b(?:error|fatal|refusing|rejected|denied)\b/i

/**
 * The last lines of git's output, plus its error lines wherever they are, in order; without the
 * remote's own `remote: …` lines when `remoteText` is false.
 */
export const tail = (text: string, remoteText = true): string => {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) =>
    l.length > 0 && (remoteText || !/^remote:/i.test(l))
  )
  const last = lines.length - 8
  return lines.filter((line, i) => i >= last || keyLine.test(line)).slice(-16).join(" | ").slice(-2000)
}

const accessDeniedPattern =
  /authentication failed|could not read (?:username|password)|terminal prompts disabled|returned error: 40[134]|\b40[13] (?:unauthorized|forbidden)|permission denied|repository .* not found|access denied|does not appear to be a git repository|no such file or directory|not a git repository/i

export const nonFastForwardPattern = /\[rejected\]|non-fast-forward|fetch first|\(stale info\)/i

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

/** Files in `.git` that make git read config, attributes or objects from elsewhere; the service writes none. */
const untrustedGitFiles = ["commondir", "config.worktree", "info/attributes", "objects/info/alternates", "worktrees"]

/**
 * `.git/config` keys the service's own git writes (clone, `checkout --track`, init defaults); any other
 * key may name a command for git to run (filter/diff/merge drivers, core.*, url.*, include…).
 */
const allowedConfigKey = (key: string): boolean =>
  /^core\.(?:repositoryformatversion|filemode|bare|logallrefupdates|ignorecase|precomposeunicode|symlinks)$/.test(
    key
  ) ||
  key === "extensions.objectformat" ||
  key === "remote.origin.url" ||
  key === "remote.origin.fetch" ||
  /^branch\..+\.(?:remote|merge)$/s.test(key)

/** `git config --list -z`: `key\nvalue\0` records (`key\0` for a key without a value). */
const parseConfigList = (out: string): Array<readonly [string, string]> =>
  out.split("\0").filter((r) => r.length > 0).map((record) => {
    const newline = record.indexOf("\n")
    return newline < 0 ? [record, "true"] as const : [record.slice(0, newline), record.slice(newline + 1)] as const
  })

const quoteConfig = (text: string) =>
  `"${text.replaceAll("\\", "\\\\").replaceAll("\"", "\\\"").replaceAll("\n", "\\n")}"`

/** A config file holding `entries` (section.[subsection.]name keys), in their order. */
const renderConfig = (entries: ReadonlyArray<readonly [string, string]>): string => {
  const lines: Array<string> = []
  let header = ""
  for (const [key, value] of entries) {
    const first = key.indexOf(".")
    const last = key.lastIndexOf(".")
    const section = key.slice(0, first)
    const next = first === last ? `[${section}]` : `[${section} ${quoteConfig(key.slice(first + 1, last))}]`
    if (next !== header) lines.push(next)
    header = next
    lines.push(`\t${key.slice(last + 1)} = ${quoteConfig(value)}`)
  }
  return lines.join("\n") + "\n"
}

export const fullRef = (branch: string) => `refs/heads/${branch}`
export const remoteRef = (branch: string) => `refs/remotes/origin/${branch}`

/**
 * Warns when GIT_TOKEN is set without GIT_HOSTS (the token would go nowhere); run by the layers
 * that read their configuration from the environment.
 */
export const warnUnscopedToken = Effect.gen(function*() {
  const token = yield* Config.option(Config.redacted("GIT_TOKEN"))
  const hosts = yield* Config.string("GIT_HOSTS").pipe(Config.withDefault(""))
  if (Option.isSome(token) && hosts.trim() === "") {
    yield* Effect.logWarning(
      "GIT_TOKEN is set but GIT_HOSTS is empty: the token is sent to no host (list the hosts it belongs to in GIT_HOSTS)"
    )
  }
})

export const make = (config: GitPlumbingConfig) =>
  Effect.gen(function*() {
    const redactor = yield* Redaction.Redactor
    const redact = redactor.redact
    const workspaceDir = Path.resolve(config.workspaceDir)
    const allowProtocols = ["https", "http", "ssh", "git", ...(config.allowFile ? ["file"] : [])]
    for (const credential of config.credentials) yield* redactor.register(credential.token)

    // --- process helpers --------------------------------------------------------------------

    const git = (cwd: string, args: ReadonlyArray<string>, options: RunOptions = {}) =>
      runGit({
        cwd,
        args,
        allowProtocols,
        author: { name: config.authorName, email: config.authorEmail },
        ...options,
        timeout: options.timeout ?? config.commandTimeout
      }).pipe(
        Effect.mapError((e) => new GitOperationFailed({ operation: args[0] ?? "git", message: redact(e.detail) })),
        Effect.tap((r) =>
          Effect.logDebug(redact(`git ${args[0] ?? ""} exited ${r.exitCode}`)).pipe(
            Effect.annotateLogs({ gitArgs: redact(args.slice(0, 6).join(" ")) })
          )
        )
      )

    const failure = (operation: string, r: GitResult, remoteText = true) =>
      new GitOperationFailed({
        operation,
        message: redact(
          `git ${operation} failed (exit ${r.exitCode}): ${tail(r.stderr.length > 0 ? r.stderr : r.stdout, remoteText)}`
        )
      })

    /** A failed command that talked to the remote; the remote's own text only for a push. */
    const remoteFailure = (operation: string, r: GitResult): RemoteError => {
      const remoteText = operation === "push"
      const text = `${r.stderr}\n${r.stdout}`
      if (accessDeniedPattern.test(text)) {
        return new RepositoryAccessDenied({
          message: redact(
            `The remote refused access or does not have this repository (git ${operation}): ${
              tail(r.stderr, remoteText)
            }. Check the repoUrl and the credentials (GIT_USERNAME/GIT_TOKEN or the project token).`
          )
        })
      }
      return failure(operation, r, remoteText)
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

    // --- remotes: policy, pin, credentials -----------------------------------------------------

    const policy = config.outbound ?? OutboundPolicy.strict
    // the system resolver's answers are kept a while (a resolver the configuration gives is its own)
    const outbound: OutboundPolicy.OutboundConfig = policy.resolve !== undefined ? policy : {
      ...policy,
      resolve: yield* OutboundPolicy.cachedResolver(OutboundPolicy.systemResolver)
    }
    // shorter limits than any command's, never longer
    const probeTimeout = Duration.min(config.probeTimeout ?? defaultProbeTimeout, config.commandTimeout)
    const cloneTimeout = Duration.min(config.cloneTimeout ?? defaultCloneTimeout, config.commandTimeout)
    /** Clones and probes running at once in this instance. */
    const remoteSlots = yield* Effect.makeSemaphore(config.maxConcurrentRemote ?? defaultMaxConcurrentRemote)

    /**
     * The credential header for `repo`, scoped to its `scheme://host/` and only when one is
     * configured for that host (or the caller passed a token for this very repository).
     */
    const credentialHeader = (
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

    /**
     * What a command talking to `repo` is given: the outbound policy's verdict (InvalidRepoUrl when
     * the host is not allowed or resolves to an address that is not), the pin to the checked
     * address, and the credential header.
     */
    const remoteConfig = (
      repo: { readonly usesHttpAuth: boolean; readonly url: string },
      token: Redacted.Redacted<string> | undefined
    ): Effect.Effect<GitAuth, InvalidRepoUrl | GitOperationFailed> =>
      Effect.gen(function*() {
        const parsed = RepoUrl.parse(repo.url, { allowFile: config.allowFile })
        if (Either.isLeft(parsed)) return yield* parsed.left
        const pin = yield* OutboundPolicy.check(outbound, parsed.right)
        const header = yield* credentialHeader(repo, token)
        return [...header, ...Option.match(pin, { onNone: () => [], onSome: (p) => p.config })]
      })

    // A work tree's origin is set by its clone and never changed: read once per directory.
    const origins = new Map<string, string>()

    const originOf = (dir: string) =>
      Effect.gen(function*() {
        const url = origins.get(dir) ?? (yield* gitOk(dir, ["config", "--get", "remote.origin.url"])).trim()
        origins.set(dir, url)
        return RepoUrl.parse(url, { allowFile: config.allowFile }).pipe(
          Either.getOrElse(() => ({ usesHttpAuth: false, url }))
        )
      })

    /**
     * The outbound policy's verdict on `repo`'s host alone (the edge asks before anything is
     * stored); a name that does not resolve right now passes here (every git command checks again).
     */
    const checkHost = (repo: RepoUrl.RepoUrl): Effect.Effect<void, InvalidRepoUrl> =>
      OutboundPolicy.check(outbound, repo).pipe(
        Effect.asVoid,
        Effect.catchTag("GitOperationFailed", () => Effect.void)
      )

    /** `remoteConfig` of the work tree's origin; a refused host is the remote's refusal here. */
    const originConfig = (dir: string, token: Redacted.Redacted<string> | undefined) =>
      Effect.flatMap(originOf(dir), (origin) =>
        remoteConfig(origin, token).pipe(
          Effect.catchTag("InvalidRepoUrl", (e) => Effect.fail(new RepositoryAccessDenied({ message: e.message })))
        ))

    /** `<repository key>` (the shared cache) or `<repository key>-<16 hex of the project>` (a project's work tree). */
    const keyFor = (repo: RepoUrl.RepoUrl, project: string | undefined): string =>
      project === undefined
        ? repo.key
        : `${repo.key}-${createHash("sha256").update(project, "utf8").digest("hex").slice(0, 16)}`

    // --- work trees ---------------------------------------------------------------------------

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

    // `.git/config` of each work tree as it was when last found (or made) clean: device, inode, size,
    // mtime and ctime. ctime cannot be set back by a process in a sandbox (mtime can, with utimes).
    const checkedConfigs = new Map<string, string>()
    const fileIdentity = (s: BigIntStats) => `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`

    /**
     * Makes a work tree's git dir trustworthy again before the host runs git in it: a sandbox may have
     * had the work tree (its `.git` included) read-write — the local sandbox, a docker sandbox before
     * `.git` was mounted read-only — and git runs commands a repository's own config names (filter,
     * textconv and merge drivers, includes, core.worktree, insteadOf…). `.git` must be a real
     * directory; files that point git elsewhere go; `.git/config` keeps only what the service's clone
     * and checkouts write (the allow-list), rewritten from scratch when anything else is there. A
     * config unchanged since it was last found clean is not read again (no git process).
     */
    const secureGitDir = (dir: string) =>
      Effect.gen(function*() {
        const gitDir = Path.join(dir, ".git")
        const kind = yield* Effect.promise(() => Fs.lstat(gitDir).then((s) => s, () => undefined))
        if (kind === undefined) return // nothing cloned yet (or gone): the clone writes a fresh one
        if (!kind.isDirectory()) {
          return yield* new GitOperationFailed({
            operation: "workspace integrity",
            message: `The work tree's .git is not a directory (a ${
              kind.isSymbolicLink() ? "symbolic link" : "file"
            }): something in the sandbox replaced it; git is not run there. Remove the workspace to clone it again.`
          })
        }
        const removed: Array<string> = []
        for (const name of untrustedGitFiles) {
          const path = Path.join(gitDir, name)
          if (yield* Effect.promise(() => Fs.lstat(path).then(() => true, () => false))) {
            yield* fsOp("remove untrusted git file", () => Fs.rm(path, { recursive: true, force: true }))
            removed.push(name)
          }
        }
        const configPath = Path.join(gitDir, "config")
        const configKind = yield* Effect.promise(() =>
          Fs.lstat(configPath, { bigint: true }).then((s) => s, () => undefined)
        )
        // Stat'ed before it is read: a change after that point has another identity next time.
        const identity = configKind?.isFile() === true ? fileIdentity(configKind) : undefined
        if (identity !== undefined && checkedConfigs.get(dir) === identity) {
          if (removed.length > 0) yield* warnRemoved(dir, removed)
          return
        }
        checkedConfigs.delete(dir)
        // read by git itself (its quoting rules), outside any repository, includes not followed
        const listed = configKind?.isFile() === true
          ? yield* git(workspaceDir, ["config", "--file", configPath, "--no-includes", "--list", "-z"])
          : undefined
        const entries = listed?.exitCode === 0 ? parseConfigList(listed.stdout) : []
        const known = origins.get(dir)
        // Not remembered (a restart): an origin is trusted only when its key is the directory's own
        // (`<repository key>[-<project>]`), else credentials would go to whatever host the sandbox named.
        const dirKey = Path.basename(dir).slice(0, RepoUrl.keyLength)
        const foreign = known === undefined && entries.some(([key, value]) =>
          key === "remote.origin.url" &&
          Either.getOrUndefined(RepoUrl.parse(value, { allowFile: config.allowFile }))?.key !== dirKey
        )
        if (foreign) {
          return yield* new GitOperationFailed({
            operation: "workspace integrity",
            message:
              "The work tree's origin URL was changed to another repository (something in the sandbox rewrote remote.origin.url); git does not talk to it. Remove the workspace to clone it again."
          })
        }
        const kept = entries.filter(([key]) => allowedConfigKey(key)).map(([key, value]): readonly [string, string] =>
          key === "remote.origin.url" && known !== undefined ? [key, known] : [key, value]
        )
        const dropped = entries.filter(([key]) => !allowedConfigKey(key)).map(([key]) => key)
        const moved = known !== undefined &&
          entries.some(([key, value]) => key === "remote.origin.url" && value !== known)
        const changed = listed?.exitCode !== 0 || dropped.length > 0 || moved
        if (changed) {
          const tmp = Path.join(gitDir, `config.devteam-${randomBytes(6).toString("hex")}`)
          // rename replaces whatever `config` is (a symlink is not followed)
          yield* fsOp("rewrite git config", async () => {
            await Fs.writeFile(tmp, renderConfig(kept), { flag: "wx", mode: 0o644 })
            await Fs.rm(configPath, { recursive: true, force: true })
            await Fs.rename(tmp, configPath)
          })
          removed.push(
            listed === undefined ? "config (not a regular file)" : `config: ${dropped.join(", ") || "origin url"}`
          )
        }
        // A rewritten config is read again next time (what was written is not remembered unread).
        if (!changed && identity !== undefined) checkedConfigs.set(dir, identity)
        if (removed.length > 0) yield* warnRemoved(dir, removed)
      })

    const warnRemoved = (dir: string, removed: ReadonlyArray<string>) =>
      Effect.logWarning(
        redact(`Workspace: removed what the sandbox added to the git dir: ${removed.join("; ")}`.slice(0, 2000))
      ).pipe(Effect.annotateLogs({ repoKey: Path.basename(dir) }))

    // --- ref helpers ----------------------------------------------------------------------

    // Ref and ancestry questions are answered from the git dir's files when they can be
    // (GitRefs), by git otherwise: each git process costs milliseconds, a task asked dozens.

    /** The commit `ref` names; a full ref name (`refs/…`) is read from the files when they answer. */
    const revParse = (dir: string, ref: string) =>
      Effect.flatMap(
        ref.startsWith("refs/")
          ? Effect.promise(() => GitRefs.readRefs(Path.join(dir, ".git"), [ref]))
          : Effect.succeed(undefined),
        (refs) =>
          refs !== undefined
            ? Effect.succeed(Option.fromNullable(refs.get(ref)))
            : Effect.map(
              git(dir, ["rev-parse", "--verify", "--quiet", `${ref}^{commit}`]),
              (r) => r.exitCode === 0 ? Option.some(r.stdout.trim()) : Option.none<string>()
            )
      )

    /** The commit HEAD is on (after a commit, merge or rebase). */
    const headCommit = (dir: string) =>
      Effect.flatMap(
        Effect.promise(() => GitRefs.readHead(Path.join(dir, ".git"))),
        (head) =>
          head !== undefined ? Effect.succeed(head) : Effect.map(gitOk(dir, ["rev-parse", "HEAD"]), (out) => out.trim())
      )

    /** `refname → commit` for the given full ref names that exist (the files, else one git process). */
    const refsSnapshot = (dir: string, names: ReadonlyArray<string>) =>
      Effect.flatMap(Effect.promise(() => GitRefs.readRefs(Path.join(dir, ".git"), names)), (refs) =>
        refs !== undefined
          ? Effect.succeed(refs)
          : Effect.map(gitOk(dir, ["for-each-ref", "--format=%(objectname) %(refname)", "--", ...names]), (out) => {
            const wanted = new Set(names)
            const found = new Map<string, string>()
            for (const line of out.split("\n")) {
              const space = line.indexOf(" ")
              const name = line.slice(space + 1)
              if (space > 0 && wanted.has(name)) found.set(name, line.slice(0, space))
            }
            return found
          }))

    /**
     * Whether `ancestor` is an ancestor of (or is) `descendant`. Through the loose commits this
     * service made (a merge's parent, a tick's parent) when that settles it — a commit that descends
     * from another is not its ancestor — else `git merge-base --is-ancestor`.
     */
    const isAncestor = (dir: string, ancestor: string, descendant: string) =>
      Effect.gen(function*() {
        if (ancestor === descendant) return true
        const gitDir = Path.join(dir, ".git")
        if (yield* Effect.promise(() => GitRefs.reachesLoose(gitDir, descendant, ancestor))) return true
        if (yield* Effect.promise(() => GitRefs.reachesLoose(gitDir, ancestor, descendant))) return false
        const r = yield* git(dir, ["merge-base", "--is-ancestor", ancestor, descendant])
        return r.exitCode === 0
          ? true
          : r.exitCode === 1
          ? false
          : yield* failure("merge-base", r)
      })

    /** The branch checked out in a work tree, from `.git/HEAD` (no git process); none when detached. */
    const currentBranch = (dir: string) =>
      Effect.map(
        Effect.promise(() => Fs.readFile(Path.join(dir, ".git", "HEAD"), "utf8").catch(() => "")),
        (head) =>
          head.startsWith("ref: refs/heads/")
            ? Option.some(head.slice("ref: refs/heads/".length).trim())
            : Option.none<string>()
      )

    /**
     * Clears whatever a crash (or a failed operation) may have left: merge/rebase in progress, locks,
     * and — unless `workTree` is false (a caller that only fetches and reads refs) — uncommitted leftovers.
     */
    const cleanState = (dir: string, options: { readonly workTree?: boolean } = {}) =>
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
        if (options.workTree === false) return
        const status = yield* gitOk(dir, ["status", "--porcelain", "--untracked-files=all"])
        if (status.trim().length > 0) {
          yield* Effect.logDebug("Workspace: discarding uncommitted leftovers")
          yield* gitOk(dir, ["reset", "--hard", "--quiet"])
          yield* gitOk(dir, ["clean", "-fd", "--quiet"])
        }
      })

    /** `refs/heads/<base>` and `refs/remotes/origin/<base>` (plus `more` refs) in one git process. */
    const baseRefs = (dir: string, base: string, more: ReadonlyArray<string> = []) =>
      refsSnapshot(dir, [fullRef(base), remoteRef(base), ...more])

    /**
     * The base branch locally: created from, or fast-forwarded to, `origin/<base>` when behind it.
     * `refs`: a snapshot holding both base refs, when the caller has one.
     */
    const ensureLocalBase = (dir: string, base: string, refs?: ReadonlyMap<string, string>) =>
      Effect.gen(function*() {
        const snapshot = refs ?? (yield* baseRefs(dir, base))
        const remote = Option.fromNullable(snapshot.get(remoteRef(base)))
        const local = Option.fromNullable(snapshot.get(fullRef(base)))
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

    /**
     * The newest of the local base and `origin/<base>` (local when it contains origin's). `refs`: a
     * snapshot holding both base refs, when the caller has one.
     */
    const baseTip = (dir: string, base: string, refs?: ReadonlyMap<string, string>) =>
      Effect.gen(function*() {
        const snapshot = refs ?? (yield* baseRefs(dir, base))
        const remote = Option.fromNullable(snapshot.get(remoteRef(base)))
        const local = Option.fromNullable(snapshot.get(fullRef(base)))
        if (Option.isSome(local) && Option.isSome(remote)) {
          if (local.value === remote.value) return local.value
          return (yield* isAncestor(dir, remote.value, local.value)) ? local.value : remote.value
        }
        if (Option.isSome(local)) return local.value
        if (Option.isSome(remote)) return remote.value
        return yield* new BranchNotFound({ message: `Base branch '${base}' does not exist`, branch: base })
      })

    // --- the repository cache -------------------------------------------------------------------

    const cloneInto = (
      repo: RepoUrl.RepoUrl,
      dir: string,
      auth: ReadonlyArray<readonly [string, string]>,
      reference: CloneReference | undefined
    ) =>
      Effect.acquireUseRelease(
        Effect.sync(() => Path.join(workspaceDir, `.tmp-clone-${repo.key}-${randomBytes(6).toString("hex")}`)),
        (tmp) =>
          Effect.gen(function*() {
            const clone = git(workspaceDir, [
              "clone",
              "--quiet",
              "--no-checkout",
              // The objects the local repository already has are copied from it, not downloaded:
              // the remote sends only what is missing. `--dissociate` leaves no alternates file
              // (the clone owns every object; a sandbox cannot reach the reference through it).
              ...(reference === undefined ? [] : ["--reference-if-able", reference.dir, "--dissociate"]),
              "--origin",
              "origin",
              "--",
              repo.url,
              tmp
            ], {
              config: auth,
              timeout: cloneTimeout
            })
            // the reference's lock before a remote slot, the order its own fetches take them in
            const slot = remoteSlots.withPermits(1)(clone)
            const r = yield* (reference === undefined ? slot : reference.hold(slot))
            if (r.exitCode !== 0) return yield* remoteFailure("clone", r)
            yield* removeDir(dir)
            yield* fsOp("move clone into place", () => Fs.rename(tmp, dir))
            origins.set(dir, repo.url)
            fetchedAt.set(dir, Date.now())
          }),
        (tmp) => Effect.ignore(removeDir(tmp))
      )

    /** When each work tree last had its origin's branches (clone or fetch), in this process. */
    const fetchedAt = new Map<string, number>()

    const fetchOrigin = (dir: string, auth: ReadonlyArray<readonly [string, string]>) =>
      Effect.suspend(() => {
        const started = Date.now()
        return Effect.flatMap(
          git(dir, ["fetch", "--quiet", "--prune", "origin", "+refs/heads/*:refs/remotes/origin/*"], { config: auth }),
          (r) => {
            if (r.exitCode !== 0) return Effect.fail(remoteFailure("fetch", r))
            fetchedAt.set(dir, started)
            return Effect.void
          }
        )
      })

    /**
     * Whether `other`, fetched by this process within `withinMs`, holds the same `names`
     * (refs/remotes/origin/…) as `dir`: a fetch in `dir` now would bring nothing new for them.
     */
    const sameAsRecentFetch = (dir: string, other: string, names: ReadonlyArray<string>, withinMs: number) =>
      Effect.promise(async () => {
        const at = fetchedAt.get(other)
        if (at === undefined || Date.now() - at > withinMs) return false
        const [mine, theirs] = await Promise.all([
          GitRefs.readRefs(Path.join(dir, ".git"), names),
          GitRefs.readRefs(Path.join(other, ".git"), names)
        ])
        return mine !== undefined && theirs !== undefined && names.every((n) => mine.get(n) === theirs.get(n))
      })

    const remoteDefaultBranch = (dir: string) =>
      Effect.map(git(dir, ["symbolic-ref", "--quiet", "refs/remotes/origin/HEAD"]), (r) => {
        const ref = r.stdout.trim()
        return r.exitCode === 0 && ref.startsWith("refs/remotes/origin/")
          ? ref.slice("refs/remotes/origin/".length)
          : "main"
      })

    /**
     * Clones the repository into the cache, or fetches it when cached (unless `fetch` is false: the
     * caller knows a fetch would bring nothing). Call with the repo lock held.
     */
    const ensureRepo = (
      repo: RepoUrl.RepoUrl,
      dir: string,
      auth: ReadonlyArray<readonly [string, string]>,
      options: EnsureRepoOptions = {}
    ) =>
      Effect.gen(function*() {
        yield* fsOp("create workspace directory", () => Fs.mkdir(workspaceDir, { recursive: true }))
        let cached = yield* exists(Path.join(dir, ".git", "HEAD"))
        if (cached) {
          // A workspace git can no longer make sense of (a crash mid-write, a disk problem) is
          // only a cache: drop it and clone again.
          const healthy = yield* cleanState(dir, options).pipe(
            Effect.as(true),
            Effect.catchAll((e) =>
              Effect.logWarning(`Workspace: unusable cached repository, cloning again: ${e.message}`).pipe(
                Effect.as(false)
              )
            )
          )
          if (!healthy) cached = false
          else if (options.fetch !== false) yield* fetchOrigin(dir, auth)
        }
        if (!cached) yield* cloneInto(repo, dir, auth, options.reference)
        return { cloned: !cached }
      })

    // --- files at a revision ---------------------------------------------------------------------

    /**
     * The regular file at `path` in commit `rev`: mode, blob and size, and its text when it was read
     * on the way (loose objects, no git process); none when it is not there.
     */
    const fileAt = (dir: string, rev: string, path: string) =>
      Effect.gen(function*() {
        const notRegular = new BadRequest({ message: `The task list ${JSON.stringify(path)} is not a regular file` })
        const gitDir = Path.join(dir, ".git")
        const entry = yield* Effect.promise(() => GitRefs.looseEntryAt(gitDir, rev, path))
        const content = entry?.mode === "100644" || entry?.mode === "100755"
          ? yield* Effect.promise(() => GitRefs.looseBlob(gitDir, entry.id))
          : undefined
        if (entry === null) return Option.none<{ mode: string; blob: string; size: number; text?: string }>()
        if (entry !== undefined && content !== undefined) {
          return Option.some({ mode: entry.mode, blob: entry.id, size: content.length, text: content.toString("utf8") })
        }
        // a tree, a submodule or a symbolic link: ls-tree would say so too
        if (entry !== undefined && entry.mode !== "100644" && entry.mode !== "100755") return yield* notRegular
        // -l: the blob's size too (no second process to check it against a cap)
        const out = yield* gitOk(dir, ["ls-tree", "-l", "-z", "--full-tree", rev, "--", path])
        const match = /^(\d{6}) (\w+) ([0-9a-f]+) +(\d+|-)\t(.*)$/s.exec(out.split("\0")[0] ?? "")
        if (match === null || match[5] !== path) return Option.none()
        const [, mode = "", type = "", blob = "", size = "0"] = match
        if (type !== "blob" || (mode !== "100644" && mode !== "100755")) return yield* notRegular
        return Option.some({ mode, blob, size: Number(size) })
      })

    /** A blob's text; BadRequest when it is larger than `maxBytes`. `size`: when known (`fileAt`). */
    const readBlob = (dir: string, blob: string, maxBytes: number, size?: number) =>
      Effect.gen(function*() {
        const bytes = size ?? Number((yield* gitOk(dir, ["cat-file", "-s", blob])).trim())
        if (bytes > maxBytes) {
          return yield* new BadRequest({ message: `The task list is larger than ${maxBytes} bytes` })
        }
        return yield* gitOk(dir, ["cat-file", "blob", blob])
      })

    // --- pushing the base branch -----------------------------------------------------------------

    /** Pushes the base branch; on a non-fast-forward: fetch, rebase once, retry, then PushRejected. */
    const pushBase = (dir: string, base: string, token: Redacted.Redacted<string> | undefined) =>
      Effect.gen(function*() {
        const refs = yield* baseRefs(dir, base)
        const local = Option.fromNullable(refs.get(fullRef(base)))
        if (Option.isNone(local)) {
          return yield* new BranchNotFound({ message: `Base branch '${base}' does not exist`, branch: base })
        }
        const remote = Option.fromNullable(refs.get(remoteRef(base)))
        if (
          Option.isSome(remote) &&
          (remote.value === local.value || (yield* isAncestor(dir, local.value, remote.value)))
        ) {
          return { pushedCommit: local.value, alreadyPushed: true, rebased: false }
        }
        const auth = yield* originConfig(dir, token)
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
        // the rebase needs a clean work tree (leftovers could stand in its way)
        yield* cleanState(dir)
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

    return {
      config,
      workspaceDir,
      redact,
      git,
      gitOk,
      failure,
      remoteFailure,
      fsOp,
      exists,
      removeDir,
      touch,
      remoteConfig,
      checkHost,
      originConfig,
      originOf,
      remoteSlots,
      probeTimeout,
      keyFor,
      checkRepoPath,
      secureGitDir,
      revParse,
      headCommit,
      refsSnapshot,
      isAncestor,
      currentBranch,
      cleanState,
      baseRefs,
      ensureLocalBase,
      baseTip,
      ensureRepo,
      sameAsRecentFetch,
      remoteDefaultBranch,
      fileAt,
      readBlob,
      pushBase
    }
  })

export type GitPlumbing = Effect.Effect.Success<ReturnType<typeof make>>
