/**
 * The sandbox port: where a project's commands run. One service interface, two adapters:
 * `DockerSandbox` (one container per project per execution, the isolation we rely on) and
 * `LocalSandbox` (child processes in the workspace, for development machines without a Docker
 * engine — not isolation, and `health()` says so). `SandboxLayer.layer` picks one from `SANDBOX`.
 *
 * Every text an exec returns or streams has passed through the Redactor.
 */
import type { EgressConnection, EgressSummary, HostPort } from "@devteam/domain/Egress"
import { SandboxUnavailable } from "@devteam/domain/Errors"
import type { Scope } from "effect"
import { Config, ConfigError, Context, Duration, Effect, Either, Option } from "effect"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"

export type SandboxKind = "docker" | "local"

/** The production image built from `docker/sandbox.Dockerfile` (Node 26, git, aider, Claude Code): the default `SANDBOX_IMAGE`. */
export const productionImage = "devteam-sandbox:latest"
/** The registry-free test image of `scripts/build-sandbox-image.sh` (Node, git, Claude Code; no aider): tests set it. */
export const testImage = "devteam-sandbox:test"

/** Labels every sandbox container carries; the sweeper finds orphans by them. */
export const labels = {
  sandbox: "devteam.sandbox",
  owner: "devteam.sandbox.owner",
  project: "devteam.project",
  execution: "devteam.execution"
} as const

export interface SandboxResources {
  /** vCPUs (fractions allowed). */
  readonly cpus: number
  readonly memoryMiB: number
  readonly pidsLimit: number
  /** Docker network mode: `none` (default) or a user network name; `host` is refused. */
  readonly network: string
}

export interface SandboxSettings {
  /** `SANDBOX`: none → docker when an engine answers, local otherwise. */
  readonly kind: Option.Option<SandboxKind>
  readonly image: string
  readonly resources: SandboxResources
  /** `DOCKER_HOST` (`unix:///…` or `tcp://host:port`); else `DOCKER_SOCKET` (default /var/run/docker.sock). */
  readonly dockerHost: Option.Option<string>
  readonly dockerSocket: string
  /** Whose containers the sweeper may remove (`SANDBOX_OWNER`, default the host name). */
  readonly owner: string
  readonly sweepInterval: Duration.Duration
  /** How long create+start+health may take before the sandbox counts as unavailable. */
  readonly startTimeout: Duration.Duration
  /**
   * `EGRESS_SOCKET_DIR`: where the docker sandbox puts each container's egress-proxy socket
   * directory (bind-mounted into the container; default `<tmpdir>/devteam-egress`).
   */
  readonly egressDir?: string
  /**
   * `EGRESS_HOSTS` (`name=address,…`): names the egress proxy connects to at a fixed address
   * instead of resolving them (split DNS, and tests: `{ "model.test": "127.0.0.1" }`). The
   * allow-list still applies to the name.
   */
  readonly egressHosts?: Readonly<Record<string, string>>
}

const networkConfig = Config.string("SANDBOX_NETWORK").pipe(
  Config.withDefault("none"),
  Config.validate({
    message: "SANDBOX_NETWORK must be 'none' or a Docker network name ('host' is not allowed: it is no isolation)",
    validation: (s) => s.length > 0 && s !== "host" && !s.startsWith("container:")
  }),
  Config.withDescription("Docker network mode of sandbox containers")
)

/** Sandbox configuration from the environment; every key has a default. */
export const SandboxConfig: Config.Config<SandboxSettings> = Config.all({
  kind: Config.option(
    Config.literal("docker", "local")("SANDBOX").pipe(
      Config.withDescription("sandbox implementation: docker or local (default: docker when an engine answers)")
    )
  ),
  image: Config.string("SANDBOX_IMAGE").pipe(
    Config.withDefault(productionImage),
    Config.withDescription(`sandbox image (built from docker/sandbox.Dockerfile; tests use ${testImage})`)
  ),
  resources: Config.all({
    cpus: Config.number("SANDBOX_CPUS").pipe(
      Config.withDefault(1),
      Config.validate({ message: "SANDBOX_CPUS must be > 0", validation: (n) => n > 0 })
    ),
    memoryMiB: Config.integer("SANDBOX_MEMORY_MIB").pipe(
      Config.withDefault(2048),
      Config.validate({ message: "SANDBOX_MEMORY_MIB must be ≥ 64", validation: (n) => n >= 64 })
    ),
    pidsLimit: Config.integer("SANDBOX_PIDS_LIMIT").pipe(
      Config.withDefault(512),
      Config.validate({ message: "SANDBOX_PIDS_LIMIT must be ≥ 16", validation: (n) => n >= 16 })
    ),
    network: networkConfig
  }),
  dockerHost: Config.option(Config.string("DOCKER_HOST")),
  dockerSocket: Config.string("DOCKER_SOCKET").pipe(Config.withDefault("/var/run/docker.sock")),
  owner: Config.string("SANDBOX_OWNER").pipe(
    Config.withDefault(os.hostname()),
    Config.validate({
      message: "SANDBOX_OWNER may only contain letters, digits, '.', '_' and '-'",
      validation: (s) => /^[A-Za-z0-9._-]{1,128}$/.test(s)
    })
  ),
  sweepInterval: Config.duration("SANDBOX_SWEEP_INTERVAL").pipe(Config.withDefault(Duration.minutes(5))),
  startTimeout: Config.duration("SANDBOX_START_TIMEOUT").pipe(Config.withDefault(Duration.seconds(60))),
  egressDir: Config.string("EGRESS_SOCKET_DIR").pipe(
    Config.withDefault(path.join(os.tmpdir(), "devteam-egress")),
    Config.validate({
      // A unix socket path holds at most 107 bytes: <dir>/<container name (36)>/egress.sock
      message: "EGRESS_SOCKET_DIR must be an absolute path of at most 50 characters",
      validation: (s) => path.isAbsolute(s) && s.length <= 50
    }),
    Config.withDescription("host directory for the sandboxes' egress-proxy sockets (bind-mounted into each)")
  ),
  egressHosts: Config.string("EGRESS_HOSTS").pipe(
    Config.withDefault(""),
    Config.mapOrFail((text) => {
      const hosts = parseHostAddresses(text)
      return typeof hosts === "string"
        ? Either.left(ConfigError.InvalidData(["EGRESS_HOSTS"], hosts))
        : Either.right(hosts)
    }),
    Config.withDescription("name=address pairs the egress proxy connects to without resolving the name")
  )
})

/** Parses `EGRESS_HOSTS` (`name=address,…`); a reason when it is not that. */
export const parseHostAddresses = (text: string): Readonly<Record<string, string>> | string => {
  const hosts: Record<string, string> = {}
  for (const entry of text.split(",").map((e) => e.trim()).filter((e) => e.length > 0)) {
    const [name = "", address = "", ...rest] = entry.split("=").map((p) => p.trim())
    if (rest.length > 0 || name === "" || address === "" || !/^[A-Za-z0-9.-]+$/.test(name)) {
      return `EGRESS_HOSTS entries must be name=address, got ${JSON.stringify(entry)}`
    }
    if (net.isIP(address) === 0) return `EGRESS_HOSTS: ${JSON.stringify(address)} is not an IP address`
    hosts[name.toLowerCase()] = address
  }
  return hosts
}

export interface OutputLine {
  readonly stream: "stdout" | "stderr"
  /** One whole line, redacted, without its line terminator. */
  readonly text: string
}

export interface ExecOptions {
  /** argv; no shell unless the caller passes `["sh", "-c", …]`. */
  readonly command: ReadonlyArray<string>
  /**
   * Extra environment. Nothing of the runner's own environment reaches a command: the sandbox
   * starts from a minimal one (PATH, HOME, LANG). Values of secret-named variables are registered
   * with the Redactor.
   */
  readonly env?: Readonly<Record<string, string>>
  /** Relative to the workspace root; must stay inside it. */
  readonly cwd?: string
  readonly timeout: Duration.DurationInput
  /** Called for every complete line, in order per stream, before `exec` returns. */
  readonly onLine?: (line: OutputLine) => Effect.Effect<void>
}

export interface ExecResult {
  /** 128 + signal number when killed by a signal (137 = SIGKILL: timeout or OOM). */
  readonly exitCode: number
  /** Whole output (redacted, lines joined with "\n"); very long outputs keep their tail. */
  readonly stdout: string
  readonly stderr: string
  readonly timedOut: boolean
  /** The kernel's OOM killer ended the command (docker: memory limit). */
  readonly oomKilled: boolean
  /** Milliseconds. */
  readonly duration: number
}

/**
 * The egress proxy of one sandbox. Every command's environment points at it (HTTPS_PROXY,
 * HTTP_PROXY, their lower-case forms, npm_config_proxy / npm_config_https_proxy, NO_PROXY=localhost,
 * 127.0.0.1). Nothing is reachable unless a window is open: `open` allows `allow` for the life of
 * the scope (then everything is refused again and the window's connections are closed).
 */
export interface SandboxEgress {
  /** The proxy as commands see it, e.g. `http://127.0.0.1:3128`. */
  readonly proxyUrl: string
  /** true when a command cannot bypass the proxy (docker, network none); false for `local`. */
  readonly enforced: boolean
  readonly open: (options: EgressWindowOptions) => Effect.Effect<EgressWindow, never, Scope.Scope>
}

export interface EgressWindowOptions {
  /** The step the connections are attributed to (`IMPLEMENT`, `VERIFY`). */
  readonly step: string
  /** The only destinations reachable while the window is open. */
  readonly allow: ReadonlyArray<HostPort>
  /** Called as each connection ends (a refused one at once): for the step's log. */
  readonly onConnection?: (connection: EgressConnection) => Effect.Effect<void>
}

export interface EgressWindow {
  /** The connections made through this window so far, summarised (for the journal). */
  readonly summary: Effect.Effect<EgressSummary>
}

/** The proxy variables every command gets (`proxyUrl` like `http://127.0.0.1:3128`). */
export const proxyEnv = (proxyUrl: string): Readonly<Record<string, string>> => ({
  HTTPS_PROXY: proxyUrl,
  HTTP_PROXY: proxyUrl,
  https_proxy: proxyUrl,
  http_proxy: proxyUrl,
  NO_PROXY: "localhost,127.0.0.1",
  no_proxy: "localhost,127.0.0.1",
  npm_config_proxy: proxyUrl,
  npm_config_https_proxy: proxyUrl,
  npm_config_noproxy: "localhost,127.0.0.1"
})

export interface SandboxHandle {
  readonly kind: SandboxKind
  /** Container id (docker) or workspace path (local). */
  readonly id: string
  /** The workspace on the host. */
  readonly workspacePath: string
  /** The workspace as commands see it (`/workspace` in docker). */
  readonly workdir: string
  /** A scratch directory outside the workspace, as commands see it (history files, prompts). */
  readonly tmpdir: string
  /**
   * A directory kept per project across tasks and executions, as commands see it (VERIFY's
   * download caches). Absent: the package managers' own defaults.
   */
  readonly cacheDir?: string
  readonly exec: (options: ExecOptions) => Effect.Effect<ExecResult, SandboxUnavailable>
  /** Outbound traffic of the commands: only through this proxy, only to an open window's hosts. */
  readonly egress: SandboxEgress
}

export interface AcquireOptions {
  readonly projectId: string
  readonly executionId: string
  /** Absolute host path; the only host path the sandbox sees. */
  readonly workspacePath: string
  readonly resources?: Partial<SandboxResources>
}

export interface SandboxHealth {
  readonly kind: SandboxKind
  readonly available: boolean
  /** false for `local`: commands run as the runner's user on the runner's machine. */
  readonly isolation: boolean
  readonly message: string
  readonly image?: string
  /** Whether the egress allow-lists are enforced (docker: yes; local: the variables are set, not enforced). */
  readonly egressEnforced?: boolean
}

export class Sandbox extends Context.Tag("@devteam/runtime/Sandbox")<Sandbox, {
  readonly kind: SandboxKind
  /** A started, health-checked sandbox for the workspace; torn down when the scope closes. */
  readonly acquire: (options: AcquireOptions) => Effect.Effect<SandboxHandle, SandboxUnavailable, Scope.Scope>
  /** Removes orphaned sandboxes of this owner (those no live handle holds); returns how many. */
  readonly sweep: () => Effect.Effect<number>
  readonly health: () => Effect.Effect<SandboxHealth>
}>() {}

/** Resolves a command's `cwd` (relative to the workspace) against `root`; refuses escapes. */
export const resolveCwd = (
  root: string,
  cwd: string | undefined,
  join: (a: string, b: string) => string
): Effect.Effect<string, SandboxUnavailable> => {
  if (cwd === undefined || cwd === "" || cwd === ".") return Effect.succeed(root)
  const parts = cwd.split("/").filter((p) => p !== "" && p !== ".")
  if (cwd.startsWith("/") || parts.includes("..") || cwd.includes("\0")) {
    return Effect.fail(
      new SandboxUnavailable({ message: `cwd must be a path inside the workspace, got ${JSON.stringify(cwd)}` })
    )
  }
  return Effect.succeed(join(root, parts.join("/")))
}

/** Names whose values are secrets: never logged, registered with the Redactor when passed in `env`. */
export const isSecretName = (name: string): boolean => /KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL/i.test(name)
