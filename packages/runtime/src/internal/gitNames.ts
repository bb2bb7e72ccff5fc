/**
 * Validation of the names that reach git from a request: branch names and repository-relative
 * file paths. Pure; a value that passes is safe as a single argv element after `--` or in
 * `<rev>:<path>`, and can never be read as an option.
 */
import { BadRequest } from "@devteam/domain/Errors"
import { Either } from "effect"

const show = (value: string): string => JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value)

/** A branch name per `git check-ref-format --branch`, restricted further to a conservative alphabet. */
export const checkBranchName = (name: string, what: string): Either.Either<string, BadRequest> => {
  const bad = (reason: string) => Either.left(new BadRequest({ message: `${what} ${show(name)} ${reason}` }))
  if (name.length === 0) return bad("must not be empty")
  if (name.length > 200) return bad("must be at most 200 characters")
  if (!/^[A-Za-z0-9._+/-]+$/.test(name)) return bad("may only contain letters, digits, '.', '_', '+', '/' and '-'")
  if (name.startsWith("-")) return bad("must not start with '-'")
  if (name === "HEAD" || name === "@") return bad("is not a branch name")
  if (name.includes("..")) return bad("must not contain '..'")
  if (name.endsWith(".")) return bad("must not end with '.'")
  const segments = name.split("/")
  if (segments.some((s) => s.length === 0)) return bad("must not contain empty path segments")
  if (segments.some((s) => s.startsWith("."))) return bad("must not have a segment starting with '.'")
  if (segments.some((s) => s.endsWith(".lock"))) return bad("must not have a segment ending with '.lock'")
  return Either.right(name)
}

/** A path inside the repository (`docs/DevTeam/tasks_list.md`): relative, no `.`/`..`/empty segments, no `.git`. */
export const checkRepoFilePath = (path: string): Either.Either<string, BadRequest> => {
  const bad = (reason: string) => Either.left(new BadRequest({ message: `taskListPath ${show(path)} ${reason}` }))
  if (path.length === 0) return bad("must not be empty")
  if (path.length > 1024) return bad("must be at most 1024 characters")
  if (/[\p{Cc}\\]/u.test(path)) return bad("must not contain control characters or '\\'")
  if (path.startsWith("/")) return bad("must be relative to the repository root")
  const segments = path.split("/")
  if (segments.some((s) => s.length === 0 || s === "." || s === "..")) {
    return bad("must not contain '.', '..' or empty segments")
  }
  if (segments.some((s) => s.toLowerCase() === ".git")) return bad("must not point into .git")
  return Either.right(path)
}
