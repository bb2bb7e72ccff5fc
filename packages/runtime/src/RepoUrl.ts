/**
 * Validation and normalisation of the `repoUrl` of a request, and the cache key of its workspace.
 *
 * Accepted: `https://`, `http://`, `ssh://`, `git://` URLs and scp-like `user@host:path`; `file://`
 * URLs and absolute local paths only when `allowFile` (REPO_ALLOW_FILE) is on. Rejected before
 * anything runs: option-looking values (`--upload-pack=…`), transport prefixes (`ext::…`),
 * credentials embedded in the URL, whitespace or control characters, hosts or users that could be
 * read as options, queries and fragments. Messages never echo a credential.
 */
import { InvalidRepoUrl } from "@devteam/domain/Errors"
import { Effect, Either } from "effect"
import { createHash } from "node:crypto"
import * as Path from "node:path"
import { redactWith } from "./Redaction.js"

export type RepoUrlKind = "https" | "http" | "ssh" | "git" | "file"

export interface RepoUrl {
  readonly kind: RepoUrlKind
  /** What git is given (the remote URL stored in the cache): the input, normalised, never with credentials. */
  readonly url: string
  /** Scheme-normalised identity used for the cache key (`ssh://user@host/path`, lower-case host, no `.git`). */
  readonly identity: string
  /** Hex hash of `identity`: the workspace directory name. */
  readonly key: string
  /** Whether credentials (GIT_TOKEN / a project token) may be sent: http(s) only. */
  readonly usesHttpAuth: boolean
}

export interface ParseOptions {
  readonly allowFile: boolean
}

export const maxLength = 2048

/** Length of the hex cache key: 128 bits of SHA-256. */
export const keyLength = 32

/** Workspace directory names are exactly this shape; nothing else under WORKSPACE_DIR is a workspace. */
export const isCacheKey = (name: string): boolean => /^[0-9a-f]{32}(?:-[0-9a-f]{16})?$/.test(name)

export const cacheKey = (identity: string): string =>
  createHash("sha256").update(identity, "utf8").digest("hex").slice(0, keyLength)

/** A short, credential-free, printable rendering of untrusted input for error messages. */
const show = (input: string): string => {
  const clipped = input.length > 120 ? `${input.slice(0, 120)}…` : input
  return JSON.stringify(redactWith([], clipped))
}

const invalid = (input: string, reason: string): InvalidRepoUrl =>
  new InvalidRepoUrl({ message: `Invalid repoUrl ${show(input)}: ${reason}` })

const hostPattern =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])$/
const userPattern = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/
/** Path characters git hosts use; no `\`, quotes, `$`, backticks or spaces (percent-encoding is allowed). */
const remotePathPattern = /^[A-Za-z0-9._~%+@:,=/-]+$/

const stripGitSuffix = (path: string): string => path.replace(/\/+$/, "").replace(/\.git$/, "")

const hasDotDotSegment = (path: string): boolean => path.split("/").some((segment) => segment === "..")

const checkRemotePath = (input: string, path: string): InvalidRepoUrl | undefined => {
  if (path.length === 0 || path === "/") return invalid(input, "the repository path is missing")
  if (!remotePathPattern.test(path)) {
    return invalid(input, "the repository path contains characters git URLs do not use")
  }
  if (hasDotDotSegment(path)) return invalid(input, "the repository path must not contain '..' segments")
  if (path.startsWith("-") || path.includes("/-")) {
    return invalid(input, "no path segment may start with '-' (it could be read as an option)")
  }
  return undefined
}

const make = (kind: RepoUrlKind, url: string, identity: string): RepoUrl => ({
  kind,
  url,
  identity,
  key: cacheKey(identity),
  usesHttpAuth: kind === "https" || kind === "http"
})

const parseLocalPath = (input: string, path: string, options: ParseOptions): Either.Either<RepoUrl, InvalidRepoUrl> => {
  if (!options.allowFile) {
    return Either.left(invalid(input, "local repositories are only allowed when REPO_ALLOW_FILE=true"))
  }
  if (!Path.posix.isAbsolute(path)) return Either.left(invalid(input, "a local repository path must be absolute"))
  if (hasDotDotSegment(path)) return Either.left(invalid(input, "a local repository path must not contain '..'"))
  const normalised = Path.posix.normalize(path).replace(/(.)\/+$/, "$1")
  return Either.right(make("file", normalised, `file://${stripGitSuffix(normalised)}`))
}

const parseScpLike = (input: string): Either.Either<RepoUrl, InvalidRepoUrl> => {
  // [user@]host:path, the form git itself treats as ssh when no '/' precedes the first ':'
  const match = /^(?:([^@/:]+)@)?([^@/:]+):(.*)$/.exec(input)
  if (match === null) {
    return Either.left(invalid(input, "not a recognised git URL (https://, ssh://, git:// or user@host:path)"))
  }
  const [, user, host = "", path = ""] = match
  if (user !== undefined && !userPattern.test(user)) {
    return Either.left(invalid(input, "the ssh user name is not valid"))
  }
  if (!hostPattern.test(host)) return Either.left(invalid(input, "the host name is not valid"))
  const pathError = checkRemotePath(input, path)
  if (pathError !== undefined) return Either.left(pathError)
  const lowerHost = host.toLowerCase()
  const userPart = user === undefined ? "" : `${user}@`
  const absolute = path.startsWith("/") ? path : `/~/${path}`
  return Either.right(
    make("ssh", `${userPart}${lowerHost}:${path}`, `ssh://${userPart}${lowerHost}${stripGitSuffix(absolute)}`)
  )
}

const schemeKinds: Readonly<Record<string, RepoUrlKind>> = {
  "https:": "https",
  "http:": "http",
  "ssh:": "ssh",
  "git:": "git",
  "file:": "file"
}

const parseUrl = (input: string, options: ParseOptions): Either.Either<RepoUrl, InvalidRepoUrl> => {
  let url: URL
  try {
    url = new URL(input)
  } catch {
    return Either.left(invalid(input, "not a well-formed URL"))
  }
  const kind = schemeKinds[url.protocol.toLowerCase()]
  if (kind === undefined) {
    return Either.left(
      invalid(input, `the scheme ${JSON.stringify(url.protocol)} is not allowed (use https, http, ssh or git)`)
    )
  }
  if (url.password !== "" || (url.username !== "" && kind !== "ssh")) {
    return Either.left(
      invalid(input, "credentials must not be embedded in the URL; configure GIT_USERNAME/GIT_TOKEN or a project token")
    )
  }
  if (url.search !== "" || url.hash !== "" || input.includes("?") || input.includes("#")) {
    return Either.left(invalid(input, "query strings and fragments are not allowed"))
  }
  if (kind === "file") {
    if (url.hostname !== "" && url.hostname !== "localhost") {
      return Either.left(invalid(input, "file:// URLs must not name a host"))
    }
    let path: string
    try {
      path = decodeURIComponent(url.pathname)
    } catch {
      return Either.left(invalid(input, "the path is not valid percent-encoding"))
    }
    return parseLocalPath(input, path, options).pipe(
      Either.map((local) => make("file", `file://${local.url}`, local.identity))
    )
  }
  const host = url.hostname
  if (host === "" || !hostPattern.test(host)) return Either.left(invalid(input, "the host name is not valid"))
  if (url.username !== "" && !userPattern.test(url.username)) {
    return Either.left(invalid(input, "the ssh user name is not valid"))
  }
  const pathError = checkRemotePath(input, url.pathname)
  if (pathError !== undefined) return Either.left(pathError)
  const userPart = url.username === "" ? "" : `${url.username}@`
  const authority = `${userPart}${url.host.toLowerCase()}`
  const path = url.pathname.replace(/(.)\/+$/, "$1")
  return Either.right(make(kind, `${kind}://${authority}${path}`, `${kind}://${authority}${stripGitSuffix(path)}`))
}

/** Validates and normalises `input`; pure, never touches the file system or the network. */
export const parse = (input: string, options: ParseOptions): Either.Either<RepoUrl, InvalidRepoUrl> => {
  const trimmed = input.trim()
  if (trimmed.length === 0) return Either.left(invalid(input, "it is empty"))
  if (trimmed.length > maxLength) return Either.left(invalid(input, `it is longer than ${maxLength} characters`))
  if (/[\s\p{Cc}\p{Cf}]/u.test(trimmed)) {
    return Either.left(invalid(input, "it contains whitespace or control characters"))
  }
  if (trimmed.startsWith("-")) return Either.left(invalid(input, "it starts with '-' and would be read as an option"))
  if (/^[A-Za-z][A-Za-z0-9+.-]*::/.test(trimmed)) {
    return Either.left(invalid(input, "git transport prefixes such as ext:: are not allowed"))
  }
  if (/(?:^|\/)\.\.(?:\/|$)/.test(trimmed)) return Either.left(invalid(input, "it must not contain '..' path segments"))
  if (/[\\"'`$;|&<>(){}*^!]/.test(trimmed)) {
    return Either.left(invalid(input, "it contains characters that have no place in a repository URL"))
  }
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(trimmed)) return parseUrl(trimmed, options)
  if (trimmed.startsWith("/")) return parseLocalPath(trimmed, trimmed, options)
  if (trimmed.startsWith(".") || trimmed.startsWith("~")) {
    return Either.left(invalid(input, "relative local paths are not allowed"))
  }
  return parseScpLike(trimmed)
}

/** `parse` as an Effect. */
export const validate = (input: string, options: ParseOptions): Effect.Effect<RepoUrl, InvalidRepoUrl> =>
  Either.match(parse(input, options), { onLeft: Effect.fail, onRight: Effect.succeed })
