/**
 * The repository probe: what the gateway asks of a repository without a work tree — is it
 * reachable with the configured credentials, what is its default branch, does the base branch
 * exist, and the task list's text on it. Writes nothing anywhere but a temporary directory under
 * WORKSPACE_DIR (removed afterwards); takes no work tree's lock.
 *
 * The host must pass the outbound policy first (InvalidRepoUrl otherwise: nothing connects). A
 * probe holds one of the instance's remote slots (REPO_MAX_CONCURRENT) and, waiting for it
 * included, ends after REPO_VALIDATE_TIMEOUT: a remote that never answers (a tarpit) costs one
 * slot for that long, and a crowd of probes against it waits instead of starting git processes.
 *
 * Default-branch probes of one repository asked while one is under way share its answer (no
 * token: a per-call token is its own question): 50 projects of one repository started at once ask
 * the remote once or twice, not 50 times. The answer is at most one probe's duration older than
 * the question.
 */
import { type BadRequest, GitOperationFailed, type InvalidRepoUrl } from "@devteam/domain/Errors"
import {
  type ConfigError,
  Context,
  Deferred,
  Duration,
  Effect,
  Either,
  FiberId,
  Layer,
  Option,
  type Redacted
} from "effect"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { checkBranchName as checkBranch, checkRepoFilePath } from "./internal/gitNames.js"
import * as GitPlumbing from "./internal/gitPlumbing.js"
import type * as Redaction from "./Redaction.js"
import * as RepoUrl from "./RepoUrl.js"
import { defaultTaskListPath, maxTaskListBytes, WorkspaceConfig } from "./Workspace.js"

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

export class RepositoryProbe extends Context.Tag("@devteam/runtime/RepositoryProbe")<RepositoryProbe, {
  /** Whether `file://` URLs and local paths are accepted as repoUrl (REPO_ALLOW_FILE). */
  readonly allowFile: boolean
  /**
   * A repository URL as the service would use it: well-formed (RepoUrl) and on a host the outbound
   * policy allows, after resolution. Connects to nothing; for the edge to refuse before storing.
   */
  readonly checkRepoUrl: (repoUrl: string) => Effect.Effect<RepoUrl.RepoUrl, InvalidRepoUrl>
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
}>() {}

export const make = (
  config: WorkspaceConfig
): Effect.Effect<RepositoryProbe["Type"], never, Redaction.Redactor> =>
  Effect.gen(function*() {
    const plumbing = yield* GitPlumbing.make(config)
    const {
      fileAt,
      fsOp,
      git,
      gitOk,
      probeTimeout,
      remoteConfig,
      remoteFailure,
      remoteSlots,
      removeDir,
      workspaceDir
    } = plumbing
    const timedOut = (operation: string) =>
      new GitOperationFailed({
        operation,
        message: `the repository did not answer within ${Duration.format(probeTimeout)} (REPO_VALIDATE_TIMEOUT)`
      })
    /** One remote slot for `self`, the wait for it included in the probe's time limit. */
    const bounded = <A, E, R>(operation: string, self: Effect.Effect<A, E, R>) =>
      remoteSlots.withPermits(1)(self).pipe(
        Effect.timeoutFail({ duration: probeTimeout, onTimeout: () => timedOut(operation) })
      )
    const { fullRef } = GitPlumbing
    const readBlob = (dir: string, file: { readonly blob: string; readonly size: number }) =>
      plumbing.readBlob(dir, file.blob, maxTaskListBytes, file.size)

    /** Default-branch probes under way, by repository URL. */
    const inFlight = new Map<string, Deferred.Deferred<Option.Option<string>>>()
    /**
     * `ask`'s answer, shared with every caller for `url` that comes while it runs. It runs on its
     * own (a daemon fiber): one caller giving up does not cancel the others' answer; the probe's
     * own time limit bounds it.
     */
    const shared = (url: string, ask: Effect.Effect<Option.Option<string>>) =>
      Effect.suspend(() => {
        const running = inFlight.get(url)
        if (running !== undefined) return Deferred.await(running)
        const answer = Deferred.unsafeMake<Option.Option<string>>(FiberId.none)
        inFlight.set(url, answer)
        return Effect.zipRight(
          Effect.forkDaemon(
            ask.pipe(
              // interrupted too (shutdown): the waiters learn it, the next question asks again
              Effect.onExit((exit) =>
                Effect.sync(() => {
                  inFlight.delete(url)
                  Deferred.unsafeDone(answer, exit)
                })
              )
            )
          ),
          Deferred.await(answer)
        )
      })

    const defaultBranch = Effect.fn("RepositoryProbe.defaultBranch")(function*(
      options: { readonly repoUrl: string; readonly token?: Redacted.Redacted<string> | undefined }
    ) {
      const repo = yield* RepoUrl.validate(options.repoUrl, { allowFile: config.allowFile })
      // a host the policy refuses is the caller's error, not "no default branch"
      const auth = yield* remoteConfig(repo, options.token).pipe(
        Effect.catchTag("GitOperationFailed", () => Effect.succeed(undefined))
      )
      if (auth === undefined) return Option.none<string>()
      const ask = Effect.gen(function*() {
        yield* fsOp("create workspace directory", () => Fs.mkdir(workspaceDir, { recursive: true }))
        const r = yield* bounded(
          "ls-remote",
          git(workspaceDir, ["ls-remote", "--symref", "--", repo.url, "HEAD"], { config: auth, timeout: probeTimeout })
        )
        const match = r.exitCode === 0 ? /^ref: refs\/heads\/(\S+)\tHEAD$/m.exec(r.stdout) : null
        return Option.fromNullable(match?.[1])
      })
      const asked = ask.pipe(
        Effect.catchAll((e) =>
          Effect.logWarning(`RepositoryProbe: cannot ask the remote for its default branch: ${e.message}`).pipe(
            Effect.as(Option.none<string>())
          )
        )
      )
      return yield* options.token === undefined ? shared(repo.url, asked) : asked
    })

    const validate = Effect.fn("RepositoryProbe.validate")(function*(options: ValidateOptions) {
      const repo = yield* RepoUrl.validate(options.repoUrl, { allowFile: config.allowFile })
      if (options.baseBranch !== undefined) yield* checkBranch(options.baseBranch, "baseBranch")
      const path = yield* checkRepoFilePath(options.taskListPath ?? defaultTaskListPath)
      const auth = yield* remoteConfig(repo, options.token).pipe(Effect.either)
      if (Either.isLeft(auth)) {
        if (auth.left._tag === "InvalidRepoUrl") return yield* auth.left
        return {
          reachable: false,
          accessDenied: false,
          message: auth.left.message,
          defaultBranch: null,
          baseBranch: options.baseBranch ?? null,
          baseBranchExists: false,
          taskList: { found: false, path }
        }
      }
      return yield* remoteSlots.withPermits(1)(probe(repo, options, path, auth.right)).pipe(
        Effect.timeoutTo({
          duration: probeTimeout,
          onSuccess: (result): ValidateResult => result,
          onTimeout: (): ValidateResult => ({
            reachable: false,
            accessDenied: false,
            message: timedOut("validate").message,
            defaultBranch: null,
            baseBranch: options.baseBranch ?? null,
            baseBranchExists: false,
            taskList: { found: false, path }
          })
        })
      )
    })

    const probe = (
      repo: RepoUrl.RepoUrl,
      options: ValidateOptions,
      path: string,
      auth: GitPlumbing.GitAuth
    ): Effect.Effect<ValidateResult, BadRequest | GitOperationFailed> =>
      Effect.gen(function*() {
        yield* fsOp("create workspace directory", () => Fs.mkdir(workspaceDir, { recursive: true }))
        const refs = yield* git(workspaceDir, [
          "ls-remote",
          "--symref",
          "--",
          repo.url,
          "HEAD",
          ...(options.baseBranch === undefined ? [] : [fullRef(options.baseBranch)])
        ], { config: auth, timeout: probeTimeout }).pipe(
          // a remote that does not answer is an unreachable one
          Effect.catchTag("GitOperationFailed", (e) => Effect.succeed({ exitCode: -1, stdout: "", stderr: e.message }))
        )
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
            config: auth,
            timeout: probeTimeout
          })
          if (fetched.exitCode !== 0) return yield* remoteFailure("fetch", fetched)
          const file = yield* fileAt(tmp, fullRef(base), path)
          if (Option.isNone(file)) return Option.none<string>()
          return Option.some(yield* readBlob(tmp, file.value))
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

    const checkRepoUrl = (repoUrl: string) =>
      Effect.tap(RepoUrl.validate(repoUrl, { allowFile: config.allowFile }), plumbing.checkHost)

    return RepositoryProbe.of({ allowFile: config.allowFile, checkRepoUrl, defaultBranch, validate })
  })

/** The probe over the given configuration (requires a Redactor). */
export const layer = (config: WorkspaceConfig): Layer.Layer<RepositoryProbe, never, Redaction.Redactor> =>
  Layer.effect(RepositoryProbe, make(config))

/** The probe over `WorkspaceConfig` read from the environment (requires a Redactor). */
export const layerConfig: Layer.Layer<RepositoryProbe, ConfigError.ConfigError, Redaction.Redactor> = Layer.effect(
  RepositoryProbe,
  Effect.gen(function*() {
    const config = yield* WorkspaceConfig
    yield* GitPlumbing.warnUnscopedToken
    return yield* make(config)
  })
)
