/**
 * Which git credentials go to which host.
 *
 * A credential is sent only to the http(s) hosts it is configured for, never to any other remote a
 * caller names (a token must not be handed to a listener an attacker controls):
 * - `GIT_TOKEN` (with `GIT_USERNAME`, default `x-access-token`) goes to the hosts listed in
 *   `GIT_HOSTS`, and to no host when that list is empty;
 * - `GIT_CREDENTIALS` adds one credential per host: `host=username:token` entries separated by
 *   commas or new lines (`github.com=x-access-token:ghp_…,git.example.com:8443=bot:glpat-…`).
 *
 * A host is `name` (matches the scheme's default port only) or `name:port`; names are compared in
 * lower case, exactly (no wildcards: a credential for `example.com` is not sent to `evil.example.com`).
 */
import { Config, ConfigError, Either, Option, Redacted } from "effect"

export interface GitCredential {
  /** `name` or `name:port`, lower case. */
  readonly host: string
  readonly username: string
  readonly token: Redacted.Redacted<string>
}

const hostPattern =
  /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?$/
const userPattern = /^[A-Za-z0-9_][A-Za-z0-9._@+-]*$/

/** A configured host in its canonical form, or why it is not one. */
export const parseHost = (input: string): Either.Either<string, string> => {
  const host = input.trim().toLowerCase()
  if (!hostPattern.test(host)) return Either.left(`"${host.slice(0, 80)}" is not a host name or host:port`)
  const port = /:([0-9]+)$/.exec(host)?.[1]
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) {
    return Either.left(`"${host}" has an invalid port`)
  }
  return Either.right(host)
}

const defaultPorts: Readonly<Record<string, string>> = { "https:": "443", "http:": "80" }

/**
 * The host keys a URL matches: `name:port` always, and `name` too when the port is the scheme's
 * default. None for anything but http(s).
 */
export const hostKeysOf = (url: string): ReadonlyArray<string> => {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return []
  }
  const defaultPort = defaultPorts[parsed.protocol]
  if (defaultPort === undefined) return []
  const name = parsed.hostname.toLowerCase()
  const port = parsed.port === "" ? defaultPort : parsed.port
  return port === defaultPort ? [`${name}:${port}`, name] : [`${name}:${port}`]
}

/** The credential configured for the host of `url`, if any (a per-host entry wins over GIT_TOKEN). */
export const forUrl = (credentials: ReadonlyArray<GitCredential>, url: string): Option.Option<GitCredential> => {
  const keys = hostKeysOf(url)
  return Option.fromNullable(credentials.find((c) => keys.includes(c.host)))
}

/** `scheme://host[:port]/`: the URL prefix git scopes a credential's `http.<url>.extraHeader` to. */
export const scopeOf = (url: string): Option.Option<string> => {
  try {
    const parsed = new URL(url)
    if (defaultPorts[parsed.protocol] === undefined) return Option.none()
    return Option.some(`${parsed.protocol}//${parsed.host}/`)
  } catch {
    return Option.none()
  }
}

const problem = (name: string, message: string) => ConfigError.InvalidData([name], message)

/** Parses GIT_CREDENTIALS; every problem is reported (by entry number, never echoing a token). */
export const parseCredentials = (text: string): Either.Either<ReadonlyArray<GitCredential>, ReadonlyArray<string>> => {
  const entries = text.split(/[,\n]/).map((e) => e.trim()).filter((e) => e.length > 0)
  const problems: Array<string> = []
  const credentials: Array<GitCredential> = []
  entries.forEach((entry, i) => {
    const at = `entry ${i + 1}`
    const eq = entry.indexOf("=")
    if (eq <= 0) {
      problems.push(`${at}: expected host=username:token`)
      return
    }
    const host = parseHost(entry.slice(0, eq))
    const credential = entry.slice(eq + 1)
    const colon = credential.indexOf(":")
    if (Either.isLeft(host)) problems.push(`${at}: ${host.left}`)
    if (colon <= 0 || colon === credential.length - 1) {
      problems.push(`${at}: expected host=username:token (username and token must not be empty)`)
      return
    }
    const username = credential.slice(0, colon)
    if (!userPattern.test(username)) problems.push(`${at}: the username has characters a user name does not use`)
    if (/\s/.test(credential)) problems.push(`${at}: the token must not contain whitespace`)
    if (Either.isRight(host)) {
      if (credentials.some((c) => c.host === host.right)) problems.push(`${at}: ${host.right} is listed twice`)
      credentials.push({ host: host.right, username, token: Redacted.make(credential.slice(colon + 1)) })
    }
  })
  return problems.length > 0 ? Either.left(problems) : Either.right(credentials)
}

const hostList = (name: string) =>
  Config.string(name).pipe(
    Config.withDefault(""),
    Config.mapOrFail((text) => {
      const hosts = text.split(/[,\s]+/).filter((h) => h.length > 0).map(parseHost)
      const bad = hosts.flatMap((h) => Either.isLeft(h) ? [h.left] : [])
      return bad.length > 0
        ? Either.left(problem(name, bad.join("; ")))
        : Either.right(hosts.flatMap((h) => Either.isRight(h) ? [h.right] : []))
    })
  )

/** GIT_USERNAME, GIT_TOKEN, GIT_HOSTS and GIT_CREDENTIALS → the credential of every configured host. */
export const CredentialsConfig: Config.Config<ReadonlyArray<GitCredential>> = Config.all({
  username: Config.string("GIT_USERNAME").pipe(
    Config.withDefault("x-access-token"),
    Config.withDescription("User name sent with GIT_TOKEN")
  ),
  token: Config.option(
    Config.redacted("GIT_TOKEN").pipe(Config.withDescription("Token for the hosts in GIT_HOSTS (secret)"))
  ),
  hosts: hostList("GIT_HOSTS").pipe(
    Config.withDescription("Hosts (name or name:port) GIT_TOKEN is sent to; empty: none")
  ),
  perHost: Config.redacted("GIT_CREDENTIALS").pipe(
    Config.withDefault(Redacted.make("")),
    Config.withDescription("host=username:token entries, comma-separated (secret)"),
    Config.mapOrFail((text) =>
      Either.mapLeft(
        parseCredentials(Redacted.value(text)),
        (problems) => problem("GIT_CREDENTIALS", problems.join("; "))
      )
    )
  )
}).pipe(
  Config.map(({ hosts, perHost, token, username }) => {
    const fromToken = Option.match(token, {
      onNone: () => [],
      onSome: (t) =>
        hosts.filter((h) => !perHost.some((c) => c.host === h)).map((host): GitCredential => ({
          host,
          username,
          token: t
        }))
    })
    return [...perHost, ...fromToken]
  })
)
