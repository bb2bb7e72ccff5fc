/**
 * Repository initialisation: one file (the task-list template) committed on the base branch as one
 * commit and pushed — never over an existing file. Works without a work tree, in a temporary bare
 * repository under WORKSPACE_DIR (removed afterwards): fetch the base branch's tip, stop when the
 * path is there, else build the commit with plumbing on a private index and push it as a
 * fast-forward (never forced). A push that loses a race with another writer starts over from the
 * new tip (up to three times), so a file someone else created meanwhile is found, not overwritten.
 * An empty repository (no branch at all) gets a root commit on the base branch.
 */
import {
  type BadRequest,
  BranchNotFound,
  type GitOperationFailed,
  type InvalidRepoUrl,
  PushRejected,
  type RepositoryAccessDenied
} from "@devteam/domain/Errors"
import { type ConfigError, Context, Data, Effect, Layer, Option, type Redacted, Schedule } from "effect"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { checkBranchName, checkRepoFilePath } from "./internal/gitNames.js"
import * as GitPlumbing from "./internal/gitPlumbing.js"
import type * as Redaction from "./Redaction.js"
import * as RepoUrl from "./RepoUrl.js"
import { WorkspaceConfig } from "./Workspace.js"

export interface CreateFileOptions {
  readonly repoUrl: string
  readonly baseBranch: string
  /** Repository-relative path of the file. */
  readonly path: string
  readonly text: string
  readonly message: string
  readonly token?: Redacted.Redacted<string> | undefined
}

export interface CreateFileResult {
  /** False when the path was there already: nothing was written. */
  readonly created: boolean
  /** The base branch's head afterwards (the new commit when one was made). */
  readonly commit: string
}

export type CreateFileError =
  | InvalidRepoUrl
  | BadRequest
  | BranchNotFound
  | PushRejected
  | RepositoryAccessDenied
  | GitOperationFailed

export class RepositoryInit extends Context.Tag("@devteam/runtime/RepositoryInit")<RepositoryInit, {
  /** Commits `text` at `path` on the base branch and pushes it, unless the path exists there. */
  readonly createFile: (options: CreateFileOptions) => Effect.Effect<CreateFileResult, CreateFileError>
}>() {}

/** The remote's base branch moved between the fetch and the push: start over from its new tip. */
class LostRace extends Data.TaggedError("LostRace")<{ readonly message: string }> {}

const ATTEMPTS = 3

/** The remote could not move its ref because a concurrent push moved it first. */
const lostRefLock = /cannot lock ref|failed to update ref|but expected [0-9a-f]{7,}/i

export const make = (config: WorkspaceConfig): Effect.Effect<RepositoryInit["Type"], never, Redaction.Redactor> =>
  Effect.gen(function*() {
    const plumbing = yield* GitPlumbing.make(config)
    const { fileAt, fsOp, git, gitOk, redact, remoteConfig, remoteFailure, removeDir, workspaceDir } = plumbing
    const { fullRef, nonFastForwardPattern, tail } = GitPlumbing

    const attempt = (
      repo: RepoUrl.RepoUrl,
      options: CreateFileOptions,
      path: string,
      auth: GitPlumbing.GitAuth
    ) =>
      Effect.scoped(Effect.gen(function*() {
        const base = options.baseBranch
        const refs = yield* git(workspaceDir, ["ls-remote", "--", repo.url], { config: auth })
        if (refs.exitCode !== 0) return yield* remoteFailure("ls-remote", refs)
        const lines = refs.stdout.split("\n").filter((l) => l.includes("\t"))
        const tip = lines.find((l) => l.endsWith(`\t${fullRef(base)}`))?.split("\t")[0]
        if (tip === undefined && lines.some((l) => l.includes("\trefs/heads/"))) {
          return yield* new BranchNotFound({ message: `Branch '${base}' does not exist on the remote`, branch: base })
        }
        const tmp = yield* Effect.acquireRelease(
          fsOp("create temp dir", () => Fs.mkdtemp(Path.join(workspaceDir, ".validate-init-"))),
          (dir) => Effect.ignore(removeDir(dir))
        )
        yield* gitOk(tmp, ["init", "--quiet", "--bare"])
        let parent: string | undefined
        if (tip !== undefined) {
          const fetched = yield* git(tmp, [
            "fetch",
            "--quiet",
            "--depth=1",
            "--no-tags",
            "--",
            repo.url,
            `+${fullRef(base)}:${fullRef(base)}`
          ], { config: auth })
          if (fetched.exitCode !== 0) return yield* remoteFailure("fetch", fetched)
          parent = (yield* gitOk(tmp, ["rev-parse", "--verify", `${fullRef(base)}^{commit}`])).trim()
          if (Option.isSome(yield* fileAt(tmp, parent, path))) return { created: false, commit: parent }
        }
        const blob = (yield* gitOk(tmp, ["hash-object", "-w", "--stdin"], { stdin: options.text })).trim()
        const env = { GIT_INDEX_FILE: Path.join(tmp, "devteam-index") }
        yield* gitOk(tmp, parent === undefined ? ["read-tree", "--empty"] : ["read-tree", parent], { env })
        yield* gitOk(tmp, ["update-index", "--add", "--cacheinfo", `100644,${blob},${path}`], { env })
        const tree = (yield* gitOk(tmp, ["write-tree"], { env })).trim()
        const commit = (yield* gitOk(
          tmp,
          ["commit-tree", tree, ...(parent === undefined ? [] : ["-p", parent]), "-F", "-"],
          { stdin: options.message }
        )).trim()
        const pushed = yield* git(tmp, [
          "push",
          "--porcelain",
          "--no-verify",
          "--",
          repo.url,
          `${commit}:${fullRef(base)}`
        ], { config: auth })
        // Up to date (`=`): an identical commit (same parent, text and second) from a concurrent call
        // got there first; that call created the file, not this one.
        if (pushed.exitCode === 0) return { created: !/^=\t/m.test(pushed.stdout), commit }
        const output = `${pushed.stdout}\n${pushed.stderr}`
        // another push to the branch won (the remote's ref moved under this one's update)
        if (nonFastForwardPattern.test(output) || lostRefLock.test(output)) {
          return yield* new LostRace({ message: redact(`'${base}' moved during the push: ${tail(output)}`) })
        }
        if (/\[remote rejected\]/.test(output)) {
          return yield* new PushRejected({
            message: redact(`The remote refused the commit adding ${path} to '${base}': ${tail(output)}`),
            branch: base
          })
        }
        return yield* remoteFailure("push", pushed)
      }))

    const createFile = Effect.fn("RepositoryInit.createFile")(function*(options: CreateFileOptions) {
      const repo = yield* RepoUrl.validate(options.repoUrl, { allowFile: config.allowFile })
      yield* checkBranchName(options.baseBranch, "baseBranch")
      const path = yield* checkRepoFilePath(options.path)
      const auth = yield* remoteConfig(repo, options.token)
      yield* fsOp("create workspace directory", () => Fs.mkdir(workspaceDir, { recursive: true }))
      const result = yield* attempt(repo, options, path, auth).pipe(
        Effect.retry({
          while: (e) => e._tag === "LostRace",
          schedule: Schedule.exponential("100 millis").pipe(Schedule.intersect(Schedule.recurs(ATTEMPTS - 1)))
        }),
        Effect.catchTag("LostRace", (e) =>
          Effect.fail(
            new PushRejected({
              message: `${e.message} (gave up after ${ATTEMPTS} attempts)`,
              branch: options.baseBranch
            })
          ))
      )
      yield* Effect.logInfo(
        result.created
          ? `RepositoryInit committed ${path} on ${options.baseBranch} at ${result.commit}`
          : `RepositoryInit: ${path} already exists on ${options.baseBranch}; nothing written`
      )
      return result
    })

    return RepositoryInit.of({ createFile })
  })

/** Over the given configuration (requires a Redactor). */
export const layer = (config: WorkspaceConfig): Layer.Layer<RepositoryInit, never, Redaction.Redactor> =>
  Layer.effect(RepositoryInit, make(config))

/** Over `WorkspaceConfig` read from the environment (requires a Redactor). */
export const layerConfig: Layer.Layer<RepositoryInit, ConfigError.ConfigError, Redaction.Redactor> = Layer.effect(
  RepositoryInit,
  Effect.flatMap(WorkspaceConfig, make)
)
