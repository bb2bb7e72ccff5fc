/**
 * Where the service itself may connect for a caller's repository (validate, clone, fetch, push):
 * the outbound policy that keeps a caller from reaching the service's own network through it.
 *
 * - `REPO_ALLOWED_HOSTS` (`name`, `name:port`, `*.suffix`, `*.suffix:port`; comma-separated): when
 *   set, only these hosts; empty: any host whose addresses are public.
 * - Every address the host resolves to must be public: loopback, unspecified, private (RFC 1918),
 *   carrier-grade NAT, link-local, unique-local, documentation/benchmark, multicast, reserved and
 *   the cloud metadata addresses are refused — after DNS resolution, so `localhost`, a name that
 *   resolves to 10.0.0.5, `2130706433`, `0x7f.1`, `0177.0.0.1` and `[::ffff:127.0.0.1]` are all
 *   caught (the resolver reads the numeric forms exactly as git's would).
 * - `REPO_ALLOW_PRIVATE=true` (tests with a git server on 127.0.0.1; a git server on the operator's
 *   own network) lets loopback/private/link-local/unique-local addresses through; the metadata
 *   addresses (169.254.169.254, fd00:ec2::254, 100.100.100.200), unspecified, multicast and
 *   reserved addresses stay refused.
 * - The connection is pinned to the address that was checked (a second lookup by git could answer
 *   differently — DNS rebinding): `http.curloptResolve` for http(s), `url.<ip>.insteadOf` for
 *   git://, ssh's `HostName` in `core.sshCommand` (with `HostKeyAlias`, so the host key is still the
 *   name's). Through an operator's HTTP(S)_PROXY the proxy resolves the name; its own policy applies.
 *
 * Address ranges: IANA IPv4/IPv6 special-purpose registries; matching uses node's `net.BlockList`
 * (which also matches IPv4-mapped IPv6 addresses against IPv4 ranges).
 */
import { GitOperationFailed, InvalidRepoUrl } from "@devteam/domain/Errors"
import { Cache, Config, ConfigError, Duration, Effect, Either, Exit, Option } from "effect"
import * as Dns from "node:dns"
import * as Net from "node:net"
import { sshCommand } from "./internal/gitProcess.js"
import type { RepoUrl } from "./RepoUrl.js"

// ---------------------------------------------------------------------------------------------
// Addresses
// ---------------------------------------------------------------------------------------------

export type AddressClass =
  | "metadata"
  | "unspecified"
  | "loopback"
  | "private"
  | "carrier-grade NAT"
  | "link-local"
  | "unique-local"
  | "multicast"
  | "reserved"

/** Classes `REPO_ALLOW_PRIVATE` lets through (an operator's own network). */
const privateClasses: ReadonlySet<AddressClass> = new Set([
  "loopback",
  "private",
  "carrier-grade NAT",
  "link-local",
  "unique-local"
])

type Range = readonly [address: string, prefix: number, family: "ipv4" | "ipv6"]

/** Most specific first: the first class whose list matches names the address. */
const ranges: ReadonlyArray<readonly [AddressClass, ReadonlyArray<Range>]> = [
  ["metadata", [
    ["169.254.169.254", 32, "ipv4"], // AWS, GCP, Azure, OpenStack…
    ["169.254.170.2", 32, "ipv4"], // ECS task metadata
    ["100.100.100.200", 32, "ipv4"], // Alibaba Cloud
    ["fd00:ec2::254", 128, "ipv6"] // AWS over IPv6
  ]],
  ["unspecified", [["0.0.0.0", 8, "ipv4"], ["::", 128, "ipv6"]]],
  ["loopback", [["127.0.0.0", 8, "ipv4"], ["::1", 128, "ipv6"]]],
  ["private", [["10.0.0.0", 8, "ipv4"], ["172.16.0.0", 12, "ipv4"], ["192.168.0.0", 16, "ipv4"]]],
  ["carrier-grade NAT", [["100.64.0.0", 10, "ipv4"]]],
  ["link-local", [["169.254.0.0", 16, "ipv4"], ["fe80::", 10, "ipv6"], ["fec0::", 10, "ipv6"]]],
  ["unique-local", [["fc00::", 7, "ipv6"]]],
  ["multicast", [["224.0.0.0", 4, "ipv4"], ["ff00::", 8, "ipv6"]]],
  ["reserved", [
    ["192.0.0.0", 24, "ipv4"], // IETF protocol assignments
    ["192.0.2.0", 24, "ipv4"], // documentation
    ["198.51.100.0", 24, "ipv4"],
    ["203.0.113.0", 24, "ipv4"],
    ["192.88.99.0", 24, "ipv4"], // 6to4 relay anycast
    ["198.18.0.0", 15, "ipv4"], // benchmarking
    ["240.0.0.0", 4, "ipv4"], // reserved, broadcast
    ["100::", 64, "ipv6"], // discard
    ["2001::", 23, "ipv6"], // IETF protocol assignments (Teredo included)
    ["2001:db8::", 32, "ipv6"], // documentation
    ["64:ff9b:1::", 48, "ipv6"] // local-use NAT64
  ]]
]

const blockLists: ReadonlyArray<readonly [AddressClass, Net.BlockList]> = ranges.map(([name, list]) => {
  const blockList = new Net.BlockList()
  for (const [address, prefix, family] of list) blockList.addSubnet(address, prefix, family)
  return [name, blockList] as const
})

/** The IPv4 address embedded in an IPv6 one by NAT64 (64:ff9b::/96) or 6to4 (2002::/16), if any. */
const embeddedIpv4 = (address: string): string | undefined => {
  const words = expandIpv6(address)
  if (words === undefined) return undefined
  const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`
  if (words[0] === 0x64 && words[1] === 0xff9b && words.slice(2, 6).every((w) => w === 0)) {
    return v4(words[6] ?? 0, words[7] ?? 0)
  }
  if (words[0] === 0x2002) return v4(words[1] ?? 0, words[2] ?? 0)
  return undefined
}

/** The eight 16-bit words of an IPv6 address (a trailing dotted IPv4 part included). */
const expandIpv6 = (address: string): ReadonlyArray<number> | undefined => {
  if (!Net.isIPv6(address)) return undefined
  let text = address.toLowerCase()
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)
  if (dotted?.[1] !== undefined) {
    const [a = 0, b = 0, c = 0, d = 0] = dotted[1].split(".").map(Number)
    text = `${text.slice(0, -dotted[1].length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head = "", tail] = text.split("::")
  const part = (s: string) => s.length === 0 ? [] : s.split(":").map((w) => parseInt(w, 16))
  const left = part(head)
  const right = tail === undefined ? [] : part(tail)
  const zeros = 8 - left.length - right.length
  return [...left, ...Array.from({ length: Math.max(0, zeros) }, () => 0), ...right]
}

/**
 * Why an IP address is not a public one (None: public). Anything that is not an IP address is
 * "reserved": only a resolver's answers are classified.
 */
export const classify = (address: string): Option.Option<AddressClass> => {
  const family = Net.isIP(address)
  if (family === 0) return Option.some("reserved")
  const type = family === 4 ? "ipv4" : "ipv6"
  for (const [name, blockList] of blockLists) {
    if (blockList.check(address, type)) return Option.some(name)
  }
  const embedded = family === 6 ? embeddedIpv4(address) : undefined
  return embedded === undefined ? Option.none() : classify(embedded)
}

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

/** One `REPO_ALLOWED_HOSTS` entry: an exact name or a `*.` suffix, any port or one. */
export interface HostPattern {
  /** Lower case; for a wildcard, the suffix without `*.`. IPv6 literals without brackets. */
  readonly host: string
  readonly wildcard: boolean
  readonly port: Option.Option<number>
}

/** A resolver answer: the addresses of a name (`dns.lookup` with `all`, the system's resolver). */
export type Resolver = (host: string) => Effect.Effect<ReadonlyArray<string>, Error>

export interface OutboundConfig {
  /** Empty: any host with public addresses. */
  readonly allowedHosts: ReadonlyArray<HostPattern>
  /** Let loopback, private, CGNAT, link-local and unique-local addresses through (never metadata). */
  readonly allowPrivate: boolean
  /** The system resolver unless given (tests map a test name to 127.0.0.1 to prove the pinning). */
  readonly resolve?: Resolver | undefined
}

/** The default: any public host, nothing else. */
export const strict: OutboundConfig = { allowedHosts: [], allowPrivate: false }

const namePattern = /^(?:\*\.)?[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$/

/** Parses one `REPO_ALLOWED_HOSTS` entry, or says why it is not one. */
export const parsePattern = (input: string): Either.Either<HostPattern, string> => {
  const text = input.trim().toLowerCase()
  const match = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(text)
  const rawHost = match?.[1]
  if (match === null || rawHost === undefined) {
    return Either.left(`"${text.slice(0, 80)}" is not host, host:port or *.domain`)
  }
  const portText = match[2]
  const port = portText === undefined ? Option.none() : Option.some(Number(portText))
  if (Option.isSome(port) && (port.value < 1 || port.value > 65535)) return Either.left(`"${text}" has an invalid port`)
  if (rawHost.startsWith("[")) {
    const v6 = rawHost.slice(1, -1)
    return Net.isIPv6(v6)
      ? Either.right({ host: v6, wildcard: false, port })
      : Either.left(`"${text}" is not an IPv6 address`)
  }
  if (!namePattern.test(rawHost)) return Either.left(`"${text.slice(0, 80)}" is not host, host:port or *.domain`)
  const wildcard = rawHost.startsWith("*.")
  return Either.right({ host: wildcard ? rawHost.slice(2) : rawHost, wildcard, port })
}

export const OutboundConfig: Config.Config<OutboundConfig> = Config.all({
  allowedHosts: Config.string("REPO_ALLOWED_HOSTS").pipe(
    Config.withDefault(""),
    Config.withDescription("Hosts (name, name:port, *.domain) repositories may be on; empty: any public host"),
    Config.mapOrFail((text) => {
      const parsed = text.split(/[,\s]+/).filter((e) => e.length > 0).map(parsePattern)
      const bad = parsed.flatMap((p) => Either.isLeft(p) ? [p.left] : [])
      return bad.length > 0
        ? Either.left(ConfigError.InvalidData(["REPO_ALLOWED_HOSTS"], bad.join("; ")))
        : Either.right(parsed.flatMap((p) => Either.isRight(p) ? [p.right] : []))
    })
  ),
  allowPrivate: Config.boolean("REPO_ALLOW_PRIVATE").pipe(
    Config.withDefault(false),
    Config.withDescription("Allow repositories on loopback/private/link-local addresses (never metadata addresses)")
  )
})

// ---------------------------------------------------------------------------------------------
// Checking a repository's host
// ---------------------------------------------------------------------------------------------

export interface Target {
  readonly scheme: "https" | "http" | "ssh" | "git"
  /** As in the URL, lower case; IPv6 literals without brackets. */
  readonly host: string
  readonly port: number
  /** The URL's `scheme://authority/` prefix (git:// pinning rewrites it), None for scp-like ssh. */
  readonly prefix: Option.Option<string>
}

const defaultPorts = { https: 443, http: 80, ssh: 22, git: 9418 } as const

/** The host a repository URL connects to; None for local repositories. */
export const targetOf = (repo: Pick<RepoUrl, "kind" | "url">): Option.Option<Target> => {
  if (repo.kind === "file") return Option.none()
  const scheme = repo.kind
  if (repo.url.startsWith(`${scheme}://`)) {
    let url: URL
    try {
      url = new URL(repo.url)
    } catch {
      return Option.none()
    }
    const host = url.hostname.toLowerCase().replace(/^\[(.*)\]$/, "$1")
    const port = url.port === "" ? defaultPorts[scheme] : Number(url.port)
    const authority = repo.url.slice(`${scheme}://`.length).split("/")[0] ?? ""
    return Option.some({ scheme, host, port, prefix: Option.some(`${scheme}://${authority}/`) })
  }
  // scp-like `[user@]host:path`
  const host = /^(?:[^@/:]+@)?([^@/:]+):/.exec(repo.url)?.[1]
  return host === undefined
    ? Option.none()
    : Option.some({ scheme: "ssh", host: host.toLowerCase(), port: 22, prefix: Option.none() })
}

const matches = (pattern: HostPattern, target: Target): boolean =>
  (Option.isNone(pattern.port) || pattern.port.value === target.port) &&
  (pattern.wildcard ? target.host.endsWith(`.${pattern.host}`) : target.host === pattern.host)

/** The address a connection is pinned to, and the git configuration that pins it. */
export interface Pinned {
  readonly target: Target
  readonly address: string
  /** Passed to git like the credential header (GIT_CONFIG_KEY/VALUE); later entries win. */
  readonly config: ReadonlyArray<readonly [string, string]>
}

const bracketed = (address: string) => Net.isIPv6(address) ? `[${address}]` : address

/** The git configuration that makes git connect to `address` for `target`. */
export const pinning = (target: Target, address: string): ReadonlyArray<readonly [string, string]> => {
  if (Net.isIP(target.host) !== 0) return []
  switch (target.scheme) {
    case "https":
    case "http":
      return [["http.curloptResolve", `${target.host}:${target.port}:${bracketed(address)}`]]
    case "git":
      return Option.match(target.prefix, {
        onNone: () => [],
        onSome: (prefix) => [[`url.git://${bracketed(address)}:${target.port}/.insteadOf`, prefix]]
      })
    case "ssh": {
      // The host key is still looked up under the name (as ssh would without HostName).
      const alias = target.port === 22 ? target.host : `[${target.host}]:${target.port}`
      return [["core.sshCommand", `${sshCommand} -o HostName=${address} -o HostKeyAlias=${alias} -o CheckHostIP=no`]]
    }
  }
}

/** The system's resolver (`dns.lookup`: /etc/hosts, then DNS). */
export const systemResolver: Resolver = (host) =>
  Effect.tryPromise({
    try: () => Dns.promises.lookup(host, { all: true, verbatim: true }),
    catch: (e) => e instanceof Error ? e : new Error(String(e))
  }).pipe(Effect.map((answers) => answers.map((a) => a.address)))

export interface ResolverCacheOptions {
  /** How long an answer is kept (default 30 s). */
  readonly ttl?: Duration.DurationInput | undefined
  /** How long a failure is kept (default 5 s). */
  readonly failureTtl?: Duration.DurationInput | undefined
  /** Hosts kept at most (default 1,024). */
  readonly capacity?: number | undefined
}

/**
 * `resolve` with its answers kept for a while, one lookup at a time per host: the starts, probes
 * and fetches of one host ask once per window. The system resolver can take seconds (5 s when a
 * reply to its parallel A/AAAA queries is lost, a common fault of container networks), and every
 * start checks its host. A kept answer cannot be re-bound: git connects to the checked address.
 */
export const cachedResolver = (resolve: Resolver, options: ResolverCacheOptions = {}): Effect.Effect<Resolver> =>
  Effect.map(
    Cache.makeWith({
      capacity: options.capacity ?? 1024,
      lookup: resolve,
      timeToLive: Exit.match({
        onFailure: () => options.failureTtl ?? Duration.seconds(5),
        onSuccess: () => options.ttl ?? Duration.seconds(30)
      })
    }),
    (cache): Resolver => (host) => cache.get(host)
  )

const refused = (target: Target, reason: string) =>
  new InvalidRepoUrl({ message: `The repository host ${JSON.stringify(target.host)} is not allowed: ${reason}` })

/**
 * Checks the host of `repo` against the policy and resolves it; the connection pin for git (None
 * for a local repository). InvalidRepoUrl when the host is not allowed or resolves to an address
 * that is not; GitOperationFailed (operation `resolve`, like any network failure: may pass) when
 * the name does not resolve now — git is then not run at all, never left to resolve it itself.
 */
export const check = (
  config: OutboundConfig,
  repo: Pick<RepoUrl, "kind" | "url">
): Effect.Effect<Option.Option<Pinned>, InvalidRepoUrl | GitOperationFailed> =>
  Effect.gen(function*() {
    const found = targetOf(repo)
    if (Option.isNone(found)) return Option.none()
    const target = found.value
    if (config.allowedHosts.length > 0 && !config.allowedHosts.some((p) => matches(p, target))) {
      return yield* refused(target, "it is not in REPO_ALLOWED_HOSTS")
    }
    const unresolved = () =>
      new GitOperationFailed({
        operation: "resolve",
        message: `The repository host ${JSON.stringify(target.host)} does not resolve`
      })
    const addresses = Net.isIP(target.host) !== 0
      ? [target.host]
      : yield* (config.resolve ?? systemResolver)(target.host).pipe(
        Effect.mapError(unresolved),
        Effect.timeoutFail({ duration: "10 seconds", onTimeout: unresolved })
      )
    if (addresses.length === 0) return yield* unresolved()
    for (const address of addresses) {
      const kind = classify(address)
      if (Option.isSome(kind) && !(config.allowPrivate && privateClasses.has(kind.value))) {
        return yield* refused(
          target,
          `it resolves to a ${kind.value} address, which this service does not connect to${
            privateClasses.has(kind.value) ? " (REPO_ALLOW_PRIVATE)" : ""
          }`
        )
      }
    }
    const address = addresses[0] ?? target.host
    return Option.some({ target, address, config: pinning(target, address) })
  })
