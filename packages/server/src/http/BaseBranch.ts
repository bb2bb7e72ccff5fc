/**
 * The base branch of an execution or project that names none: the remote's default branch (a
 * `master` repository works), `main` when the remote cannot be asked (the execution then fails
 * with the remote's own reason).
 */
import { BranchName, DEFAULT_BASE_BRANCH } from "@devteam/domain/ExecutionConfig"
import type { RepositoryProbe } from "@devteam/runtime/RepositoryProbe"
import { Effect, Option, Schema } from "effect"

export const resolve = (probe: RepositoryProbe["Type"], repoUrl: string, given: string | undefined) =>
  given !== undefined
    ? Effect.succeed(given)
    : probe.defaultBranch({ repoUrl }).pipe(
      Effect.map((found) => Option.getOrElse(Option.filter(found, Schema.is(BranchName)), () => DEFAULT_BASE_BRANCH))
    )
