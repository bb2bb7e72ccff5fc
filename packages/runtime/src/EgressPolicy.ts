/**
 * What each pipeline step's sandbox commands may reach through the egress proxy:
 *
 * - IMPLEMENT → the hosts the tool declares (`Tool.egress`: its model provider's API, from its
 *   settings) plus `EGRESS_ALLOW_IMPLEMENT`;
 * - VERIFY → the package registries of the repository's package-manager configuration (`.npmrc`
 *   `registry=` / `@scope:registry=`, `.yarnrc.yml` `npmRegistryServer`, `.yarnrc` `registry`),
 *   else registry.npmjs.org (and registry.yarnpkg.com for a yarn.lock), plus `EGRESS_ALLOW_VERIFY`.
 *   The configuration is read from the base branch, not from the work tree: IMPLEMENT's agent
 *   writes the work tree, and an `.npmrc` it wrote must not open a host to VERIFY;
 * - every other step → nothing (git runs in the runner, never in the sandbox).
 */
import type { HostPort } from "@devteam/domain/Egress"
import { formatHostPort, parseHostPort, parseHostPortList, uniqueHostPorts } from "@devteam/domain/Egress"
import { Config, ConfigError, Duration, Effect, Either } from "effect"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { runGit } from "./internal/gitProcess.js"
import * as GitRefs from "./internal/gitRefs.js"

export interface EgressPolicySettings {
  /** `EGRESS_ALLOW_IMPLEMENT`: added to IMPLEMENT's allow-list. */
  readonly implement: ReadonlyArray<HostPort>
  /** `EGRESS_ALLOW_VERIFY`: added to VERIFY's allow-list. */
  readonly verify: ReadonlyArray<HostPort>
  /** `EGRESS_PROJECT_ALLOW`: the hosts a project's own `egress` settings may add (to either step). */
  readonly projectAllow: ReadonlyArray<HostPort>
}

const hostList = (name: string, description: string): Config.Config<ReadonlyArray<HostPort>> =>
  Config.string(name).pipe(
    Config.withDefault(""),
    Config.mapOrFail((text) => {
      const { errors, hosts } = parseHostPortList(text)
      return errors.length > 0
        ? Either.left(ConfigError.InvalidData([name], `${name}: ${errors.join("; ")} (comma-separated host[:port])`))
        : Either.right(hosts)
    }),
    Config.withDescription(description)
  )

export const EgressPolicyConfig: Config.Config<EgressPolicySettings> = Config.all({
  implement: hostList(
    "EGRESS_ALLOW_IMPLEMENT",
    "host[:port] list (default port 443) IMPLEMENT's sandbox may reach besides the tool's model API"
  ),
  verify: hostList(
    "EGRESS_ALLOW_VERIFY",
    "host[:port] list (default port 443) VERIFY's sandbox may reach besides the package registries"
  ),
  projectAllow: hostList(
    "EGRESS_PROJECT_ALLOW",
    "host[:port] list (default port 443) a project's egress settings may add to IMPLEMENT / VERIFY"
  )
})

export const noAdditions: EgressPolicySettings = { implement: [], verify: [], projectAllow: [] }

/** A project's `egress` entries, parsed, split into those the operator permits and the others. */
export const projectAdditions = (
  entries: ReadonlyArray<string> | undefined,
  settings: Pick<EgressPolicySettings, "projectAllow">
): { readonly permitted: ReadonlyArray<HostPort>; readonly refused: ReadonlyArray<string> } => {
  const allowed = new Set(settings.projectAllow.map(formatHostPort))
  const permitted: Array<HostPort> = []
  const refused: Array<string> = []
  for (const entry of entries ?? []) {
    const parsed = parseHostPort(entry)
    if (typeof parsed !== "string" && allowed.has(formatHostPort(parsed))) permitted.push(parsed)
    else refused.push(entry)
  }
  return { permitted, refused }
}

export const defaultNpmRegistry = "https://registry.npmjs.org/"
export const defaultYarnRegistry = "https://registry.yarnpkg.com/"

/** The host:port of a registry URL (http → 80, https → 443), or undefined when it is not one. */
export const hostOfUrl = (text: string): HostPort | undefined => {
  const trimmed = text.trim().replace(/^["']|["']$/g, "")
  if (!URL.canParse(trimmed)) return undefined
  const url = new URL(trimmed)
  if (url.protocol !== "http:" && url.protocol !== "https:") return undefined
  const parsed = parseHostPort(
    url.port === "" ? url.hostname : `${url.hostname}:${url.port}`,
    url.protocol === "http:" ? 80 : 443
  )
  return typeof parsed === "string" ? undefined : parsed
}

const readText = (file: string) => Effect.promise(() => fs.readFile(file, "utf8").catch(() => undefined))

const git = (repoPath: string, args: ReadonlyArray<string>) =>
  runGit({
    cwd: repoPath,
    args,
    timeout: Duration.seconds(10),
    allowProtocols: [],
    author: { name: "devteam", email: "devteam@localhost" }
  })

/** The registry configuration files and yarn.lock at the root of the repository. */
const registryFiles = [".npmrc", ".yarnrc.yml", ".yarnrc", "yarn.lock"] as const
type RegistryFile = typeof registryFiles[number]

/**
 * `filesAtRef` from the git dir's files, no git process: `ref` as git resolves it (the branch,
 * when nothing of that name stands before it), its root tree and blobs loose (the base's tick
 * commit is: this service made it); `undefined` when git must answer.
 */
const looseFilesAtRef = async (gitDir: string, ref: string): Promise<Map<RegistryFile, string> | undefined> => {
  const names = [`refs/${ref}`, `refs/tags/${ref}`, `refs/heads/${ref}`] as const
  const refs = await GitRefs.readRefs(gitDir, names)
  const shadowed = await fs.lstat(path.join(gitDir, ref)).then(() => true, () => false)
  const commit = refs?.get(names[2])
  if (refs === undefined || shadowed || refs.has(names[0]) || refs.has(names[1]) || commit === undefined) {
    return undefined
  }
  const entries = await GitRefs.looseRootTree(gitDir, commit)
  if (entries === undefined) return undefined
  const found = new Map<RegistryFile, string>()
  for (const file of registryFiles) {
    // ls-tree's blobs: not a directory (40000) or a submodule (160000)
    const entry = entries.find((e) => e.name === file && e.mode !== "40000" && e.mode !== "160000")
    if (entry === undefined) continue
    if (file === "yarn.lock") {
      found.set(file, "")
      continue
    }
    const blob = await GitRefs.looseBlob(gitDir, entry.id)
    if (blob === undefined) return undefined
    found.set(file, blob.toString("utf8"))
  }
  return found
}

/**
 * Which of `registryFiles` are committed on `ref`, with the text of the configuration files
 * among them ("" for yarn.lock: its content is not needed): from the git dir's files when they
 * answer, else one `ls-tree`, and a `cat-file` only when a configuration file is there. Nothing
 * when git cannot tell.
 */
const filesAtRef = (repoPath: string, ref: string) =>
  Effect.gen(function*() {
    const loose = yield* Effect.promise(() => looseFilesAtRef(path.join(repoPath, ".git"), ref).catch(() => undefined))
    if (loose !== undefined) return loose
    const found = new Map<RegistryFile, string>()
    const listed = yield* git(repoPath, ["ls-tree", "-z", "--full-tree", ref, "--", ...registryFiles])
    if (listed.exitCode !== 0) return found
    const blobs: Array<readonly [RegistryFile, string]> = []
    for (const entry of listed.stdout.split("\0")) {
      const m = /^\d{6} blob ([0-9a-f]+)\t(.*)$/s.exec(entry)
      const file = registryFiles.find((f) => f === m?.[2])
      if (m?.[1] === undefined || file === undefined) continue
      if (file === "yarn.lock") found.set(file, "")
      else blobs.push([file, m[1]])
    }
    for (const [file, blob] of blobs) {
      const text = yield* git(repoPath, ["cat-file", "blob", blob])
      if (text.exitCode === 0) found.set(file, text.stdout)
    }
    return found
  }).pipe(Effect.orElseSucceed(() => new Map<RegistryFile, string>()))

/** Registry URLs in an `.npmrc` (also read by pnpm): `registry=` and `@scope:registry=`. */
export const npmrcRegistries = (text: string): ReadonlyArray<string> =>
  text.split("\n").flatMap((line) => {
    const m = /^\s*(?:@[^:\s]+:)?registry\s*=\s*(\S+)\s*$/.exec(line)
    return m?.[1] === undefined ? [] : [m[1]]
  })

/** Registry URLs in a `.yarnrc.yml` (Yarn 2+): `npmRegistryServer:` at any level (scopes too). */
export const yarnrcYmlRegistries = (text: string): ReadonlyArray<string> =>
  text.split("\n").flatMap((line) => {
    const m = /^\s*npmRegistryServer\s*:\s*(\S+)\s*$/.exec(line)
    return m?.[1] === undefined ? [] : [m[1]]
  })

/** Registry URLs in a `.yarnrc` (Yarn 1): `registry "…"`. */
export const yarnrcRegistries = (text: string): ReadonlyArray<string> =>
  text.split("\n").flatMap((line) => {
    const m = /^\s*(?:"@[^"]+:registry"|registry)\s+(\S+)\s*$/.exec(line)
    return m?.[1] === undefined ? [] : [m[1]]
  })

/**
 * The package registries VERIFY needs for the repository at `repoPath` (the work tree on the
 * runner): those its package-manager configuration names, else the default npm registry (plus
 * Yarn's for a yarn.lock).
 */
export const registryHosts = (repoPath: string, ref?: string): Effect.Effect<ReadonlyArray<HostPort>> =>
  Effect.gen(function*() {
    const atRef = ref === undefined ? undefined : yield* filesAtRef(repoPath, ref)
    const read = (file: RegistryFile) =>
      atRef === undefined ? readText(path.join(repoPath, file)) : Effect.succeed(atRef.get(file))
    const npmrc = yield* read(".npmrc")
    const yarnrcYml = yield* read(".yarnrc.yml")
    const yarnrc = yield* read(".yarnrc")
    const yarnLock = yield* read("yarn.lock")
    const urls = [
      ...(npmrc === undefined ? [] : npmrcRegistries(npmrc)),
      ...(yarnrcYml === undefined ? [] : yarnrcYmlRegistries(yarnrcYml)),
      ...(yarnrc === undefined ? [] : yarnrcRegistries(yarnrc))
    ]
    const configured = urls.flatMap((u) => {
      const hp = hostOfUrl(u)
      return hp === undefined ? [] : [hp]
    })
    // A default registry of its own replaces the public one (scoped registries add to it).
    const ownDefault = (npmrc !== undefined && /^\s*registry\s*=/m.test(npmrc)) ||
      (yarnrcYml !== undefined && /^npmRegistryServer\s*:/m.test(yarnrcYml)) ||
      (yarnrc !== undefined && /^\s*registry\s+/m.test(yarnrc))
    const isYarn = yarnLock !== undefined || yarnrcYml !== undefined || yarnrc !== undefined
    const defaults = ownDefault ? [] : [defaultNpmRegistry, ...(isYarn ? [defaultYarnRegistry] : [])]
    const fallback = defaults.flatMap((u) => {
      const hp = hostOfUrl(u)
      return hp === undefined ? [] : [hp]
    })
    return uniqueHostPorts([...configured, ...fallback])
  })

/** IMPLEMENT's allow-list: the tool's hosts plus the operator's and the project's (permitted) additions. */
export const implementAllowList = (
  toolHosts: ReadonlyArray<HostPort> | undefined,
  settings: EgressPolicySettings,
  project: ReadonlyArray<HostPort> = []
): ReadonlyArray<HostPort> => uniqueHostPorts([...(toolHosts ?? []), ...settings.implement, ...project])

/**
 * VERIFY's allow-list: the registries of the repository's configuration on `baseRef` (the base
 * branch) plus the operator's and the project's (permitted) additions.
 */
export const verifyAllowList = (
  repoPath: string,
  baseRef: string,
  settings: EgressPolicySettings,
  project: ReadonlyArray<HostPort> = []
): Effect.Effect<ReadonlyArray<HostPort>> =>
  Effect.map(
    registryHosts(repoPath, baseRef),
    (registries) => uniqueHostPorts([...registries, ...settings.verify, ...project])
  )
